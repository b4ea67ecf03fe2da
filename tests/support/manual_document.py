"""The manual test document (docs/api-test-cases.md) as data, and a runner for its cases.

The document is written for people: every case is a `###` heading with one ```sh block (the
request, a plain `curl -i …` a reader can paste) and one ```expect block in a small language
documented at the top of the document. Infrastructure steps are ```action blocks whose body is
what a person types; the runner performs them with the test's own fault tools instead.

Nothing here knows about pytest: the test gives the runner its environment and its actions.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import signal
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# -- the document --------------------------------------------------------------------------------

EXPECTATION_KEYS = frozenset(
    {"status", "problem", "header", "json", "body", "capture", "retry", "tally", "log", "stdout"}
)
_FENCE = re.compile(r"^```(?P<info>.*)$")
_VARIABLE = re.compile(r"\$(?:\{(?P<braced>[A-Z][A-Z0-9_]*)\}|(?P<bare>[A-Z][A-Z0-9_]*))")


class DocumentError(Exception):
    """The document does not follow its own format (a case that could not be run as written)."""


@dataclass(frozen=True)
class Expectation:
    key: str
    text: str
    line: int


@dataclass(frozen=True)
class Case:
    title: str
    section: str
    line: int
    command: str | None = None
    action: str | None = None
    action_text: str = ""
    expectations: tuple[Expectation, ...] = ()

    @property
    def kind(self) -> str:
        """`action`, or what the command prints: an HTTP response, a tally, log lines or text."""
        if self.action is not None:
            return "action"
        keys = {e.key for e in self.expectations}
        if "tally" in keys:
            return "tally"
        if "log" in keys:
            return "log"
        if "stdout" in keys:
            return "text"
        return "http"

    def expected(self, key: str) -> list[Expectation]:
        return [e for e in self.expectations if e.key == key]

    @property
    def name(self) -> str:
        return f"{self.section} › {self.title} (line {self.line})"


@dataclass
class _Draft:
    title: str
    section: str
    line: int
    blocks: list[tuple[str, str, int]] = field(default_factory=list)  # (info, text, line)


def parse(text: str) -> list[Case]:
    """Every case of the document, in order. Code blocks outside `###` cases are explanations."""
    drafts: list[_Draft] = []
    section = ""
    current: _Draft | None = None
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        fence = _FENCE.match(line)
        if fence:
            info = fence["info"].strip()
            body: list[str] = []
            index += 1
            while index < len(lines) and not lines[index].startswith("```"):
                body.append(lines[index])
                index += 1
            if index == len(lines):
                raise DocumentError(f"line {index}: a code block is never closed")
            first = index - len(body) + 1  # the block's first line, counting from 1
            if current is not None:
                current.blocks.append((info, "\n".join(body), first))
            elif info.split(" ")[0] in ("expect", "action"):
                raise DocumentError(f"line {first - 1}: an ```{info} block outside any ### case")
        elif line.startswith("### "):
            current = _Draft(line[4:].strip(), section, index + 1)
            drafts.append(current)
        elif line.startswith(("# ", "## ")):
            section = line.lstrip("#").strip()
            current = None
        index += 1
    return [_case(draft) for draft in drafts]


def _case(draft: _Draft) -> Case:
    where = f"line {draft.line} ({draft.title!r})"
    commands = [(text, line) for info, text, line in draft.blocks if info == "sh"]
    actions = [(info, text) for info, text, _ in draft.blocks if info.startswith("action")]
    expects = [(text, line) for info, text, line in draft.blocks if info == "expect"]
    if len(commands) + len(actions) != 1:
        raise DocumentError(f"{where}: a case has exactly one ```sh or one ```action block")
    if len(expects) > 1:
        raise DocumentError(f"{where}: a case has at most one ```expect block")
    expectations = _expectations(*expects[0]) if expects else ()
    if actions:
        info, text = actions[0]
        name = info.removeprefix("action").strip()
        if not name or expectations:
            raise DocumentError(f"{where}: ```action <name>, and no expectations after it")
        return Case(draft.title, draft.section, draft.line, action=name, action_text=text)
    command, _ = commands[0]
    case = Case(draft.title, draft.section, draft.line, command=command, expectations=expectations)
    _check_case(case, where)
    return case


def _expectations(text: str, first_line: int) -> tuple[Expectation, ...]:
    found = []
    for offset, raw in enumerate(text.splitlines()):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, colon, rest = line.partition(":")
        if not colon or key.strip() not in EXPECTATION_KEYS:
            raise DocumentError(f"line {first_line + offset}: unknown expectation {line!r}")
        found.append(Expectation(key.strip(), rest.strip(), first_line + offset))
    return tuple(found)


def _check_case(case: Case, where: str) -> None:
    keys = {e.key for e in case.expectations}
    if not keys - {"capture", "retry"}:
        raise DocumentError(f"{where}: a request case needs an ```expect block with checks")
    if case.kind == "http":
        if not keys & {"status", "problem"}:
            raise DocumentError(f"{where}: an HTTP case states its status (status: or problem:)")
        request = curl_request(case.command or "")
        if request is None or not request.include:
            raise DocumentError(f"{where}: an HTTP case is one `curl -i …` (or `-D -`) command")
    elif len(keys & {"status", "problem", "header", "json", "body", "tally", "log", "stdout"}) > 1:
        raise DocumentError(f"{where}: tally, log and stdout cases check their output only")
    for expectation in case.expectations:
        _compile(expectation)  # a malformed expectation fails here, before anything runs


# -- what a curl command requests ------------------------------------------------------------------

_DATA_OPTIONS = {"-d", "--data", "--data-raw", "--data-binary", "--data-urlencode", "--json"}
_OPTIONS_WITH_VALUE = {
    *["-H", "--header", "-X", "--request", "-o", "--output", "-w", "--write-out", "-D"],
    *["--dump-header", "-u", "--user", "-m", "--max-time", "-A", "--user-agent", "-e"],
    *["--referer", "--connect-timeout"],
    *_DATA_OPTIONS,
}


@dataclass(frozen=True)
class CurlRequest:
    method: str
    url: str
    include: bool

    @property
    def path(self) -> str:
        """The URL's path, `$BASE` removed and the query dropped (variables left as written)."""
        path = re.sub(r"^(\$BASE|\$\{BASE\})", "", self.url)
        return path.split("?", 1)[0]


def curl_request(command: str) -> CurlRequest | None:
    """The method and URL of a command that is exactly one curl invocation, else None."""
    lexer = shlex.shlex(command.replace("\\\n", " "), posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    try:
        tokens = list(lexer)
    except ValueError:
        return None
    if not tokens or tokens[0] != "curl":
        return None
    if any(token and set(token) <= set("|&;<>()") for token in tokens):
        return None  # a pipeline, a list or a redirection: not one request
    method, url, include, data = None, None, False, False
    args = iter(tokens[1:])
    for token in args:
        if token in _OPTIONS_WITH_VALUE:
            value = next(args, "")
            if token in ("-X", "--request"):
                method = value.upper()
            include = include or (token in ("-D", "--dump-header") and value == "-")
            data = data or token in _DATA_OPTIONS
        elif token == "--include" or re.fullmatch(r"-[a-zA-Z]*i[a-zA-Z]*", token):
            include = True
        elif not token.startswith("-") and url is None:
            url = token
    if url is None:
        return None
    return CurlRequest(method or ("POST" if data else "GET"), url, include)


def matches_template(path: str, template: str) -> bool:
    """Whether a document path (`/api/v1/schools/$SCHOOL_ID`) names an OpenAPI path template."""
    given, expected = path.strip("/").split("/"), template.strip("/").split("/")
    if len(given) != len(expected):
        return False
    return all(
        (want.startswith("{") and bool(got)) or got == want
        for got, want in zip(given, expected, strict=True)
    )


# -- expectations --------------------------------------------------------------------------------

_OPERATORS = r"==|!=|~|contains|exists|absent|>=|<=|>|<"
_JSON_CHECK = re.compile(
    rf"^(?P<path>\.\S*?)(?P<length>\s*\|\s*length)?\s+(?P<op>{_OPERATORS})(?:\s+(?P<arg>.*))?$"
)
_HEADER_CHECK = re.compile(
    r"^(?P<name>[A-Za-z0-9-]+)\s+(?P<op>==|!=|~|exists|absent)(?:\s+(?P<arg>.*))?$"
)
_PATH_STEP = re.compile(r"\.(?P<key>[\w-]*)|\[(?P<index>-?\d+)\]")
_CAPTURE = re.compile(
    r"^(?P<name>[A-Z][A-Z0-9_]*)\s*=\s*(?:(?P<path>\.\S*)|header\s+(?P<header>[A-Za-z0-9-]+))$"
)
_TALLY = re.compile(r"^(?P<patterns>.+?)\s+(?P<op>=|>=|<=)\s+(?P<count>\d+)$")
_PROBLEM = re.compile(r"^(?P<status>\d{3})\s+(?P<code>[a-z_]+)$")
_NO_ARGUMENT = {"exists", "absent"}


def _compile(expectation: Expectation) -> Any:
    """Checks an expectation's syntax; returns its parsed form."""
    text = expectation.text
    pattern = {
        "json": _JSON_CHECK,
        "header": _HEADER_CHECK,
        "capture": _CAPTURE,
        "tally": _TALLY,
        "problem": _PROBLEM,
    }.get(expectation.key)
    if pattern is not None:
        found = pattern.match(text)
        if found is None:
            raise DocumentError(f"line {expectation.line}: cannot read {expectation.key}: {text}")
        groups = found.groupdict()
        if groups.get("path") is not None:
            path_steps(groups["path"])
        takes_argument = groups.get("op") not in _NO_ARGUMENT
        if expectation.key in ("json", "header") and takes_argument != (groups["arg"] is not None):
            raise DocumentError(f"line {expectation.line}: {groups['op']} and its argument")
        return found
    if expectation.key == "status" and not re.fullmatch(r"\d{3}", text):
        raise DocumentError(f"line {expectation.line}: status is three digits")
    if expectation.key == "retry" and not re.fullmatch(r"\d+(\.\d+)?s", text):
        raise DocumentError(f"line {expectation.line}: retry takes seconds, e.g. `retry: 10s`")
    if expectation.key == "body" and not (text == "empty" or text.startswith("~ ")):
        raise DocumentError(f"line {expectation.line}: body is `empty` or `~ <regex>`")
    if expectation.key == "stdout" and not text.startswith("~ "):
        raise DocumentError(f"line {expectation.line}: stdout is `~ <regex>`")
    if expectation.key == "log":
        try:
            value = json.loads(text)
        except ValueError:
            value = None
        if not isinstance(value, dict):
            raise DocumentError(f"line {expectation.line}: log takes a JSON object")
    return None


def substitute(text: str, variables: Mapping[str, str]) -> str:
    """`$NAME` and `${NAME}` from the captured variables (an unknown name is an error)."""

    def replace(match: re.Match[str]) -> str:
        name = match["braced"] or match["bare"]
        if name not in variables:
            raise KeyError(f"${name} is not set by any earlier case")
        return variables[name]

    return _VARIABLE.sub(replace, text)


_MISSING = object()


def path_steps(path: str) -> list[str | int]:
    """`.totals[0].aging.1_30` → ["totals", 0, "aging", "1_30"] (`.` alone is the document)."""
    steps: list[str | int] = []
    position = 0
    while position < len(path):
        step = _PATH_STEP.match(path, position)
        if step is None or step.end() == position:
            raise DocumentError(f"cannot read the path {path!r}")
        position = step.end()
        if step["index"] is not None:
            steps.append(int(step["index"]))
        elif step["key"]:
            steps.append(step["key"])
    return steps


def resolve(document: Any, path: str) -> Any:
    """The value at `path`, or `_MISSING` when some step of it does not exist."""
    value = document
    for step in path_steps(path):
        if isinstance(step, int):
            if not isinstance(value, list) or not -len(value) <= step < len(value):
                return _MISSING
            value = value[step]
        else:
            if not isinstance(value, dict) or step not in value:
                return _MISSING
            value = value[step]
    return value


def same(actual: Any, expected: Any) -> bool:
    """JSON equality that tells `true` from `1`."""
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(actual) is type(expected) and actual == expected
    if isinstance(expected, dict):
        return (
            isinstance(actual, dict)
            and actual.keys() == expected.keys()
            and all(same(actual[k], v) for k, v in expected.items())
        )
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(actual) == len(expected)
            and all(same(a, e) for a, e in zip(actual, expected, strict=True))
        )
    return bool(actual == expected)


def subset(actual: Any, expected: Any) -> bool:
    """`expected` is part of `actual`: its keys have matching values, recursively."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            k in actual and subset(actual[k], v) for k, v in expected.items()
        )
    return same(actual, expected)


def contains(actual: Any, expected: Any) -> bool:
    if isinstance(actual, list):
        return any(subset(item, expected) for item in actual)
    if isinstance(actual, str):
        return isinstance(expected, str) and expected in actual
    return subset(actual, expected)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _ordered(check: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    return lambda actual, expected: (
        _number(actual) and _number(expected) and check(actual, expected)
    )


_PREDICATES: dict[str, Callable[[Any, Any], bool]] = {
    "exists": lambda actual, _: actual is not _MISSING,
    "absent": lambda actual, _: actual is _MISSING,
    "~": lambda actual, pattern: isinstance(actual, str) and re.search(pattern, actual) is not None,
    "==": same,
    "!=": lambda actual, expected: not same(actual, expected),
    "contains": contains,
    ">=": _ordered(lambda actual, expected: actual >= expected),
    "<=": _ordered(lambda actual, expected: actual <= expected),
    ">": _ordered(lambda actual, expected: actual > expected),
    "<": _ordered(lambda actual, expected: actual < expected),
}


def compare(actual: Any, op: str, argument: str | None, *, as_json: bool) -> str | None:
    """None when `actual op argument` holds, else what was found (for the failure message)."""
    expected: Any = argument
    if as_json and argument is not None and op != "~":
        expected = json.loads(argument)
    if op not in _NO_ARGUMENT and actual is _MISSING:
        return "absent"
    if _PREDICATES[op](actual, expected):
        return None
    return "absent" if actual is _MISSING else json.dumps(actual, ensure_ascii=False)


# -- outputs -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: dict[str, str]  # names lower-cased
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def show(self, limit: int = 3000) -> str:
        head = "\n".join(f"{k}: {v}" for k, v in self.headers.items())
        body = self.body.decode(errors="replace")
        if len(body) > limit:
            body = body[:limit] + f"… ({len(self.body)} bytes)"
        return f"HTTP {self.status}\n{head}\n\n{body}"


def parse_http(output: bytes) -> HttpResponse:
    """What `curl -i` printed: the final response (interim 1xx responses skipped)."""
    rest = output
    while True:
        head, separator, after = rest.partition(b"\r\n\r\n")
        if not separator or not head.startswith(b"HTTP/"):
            raise ValueError("the output does not start with an HTTP status line (curl -i)")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        if 100 <= status < 200:
            rest = after
            continue
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            key = name.strip().lower()
            headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
        return HttpResponse(status, headers, after)


def parse_tally(output: str) -> dict[str, int]:
    """`sort | uniq -c` output: value → count."""
    counts: dict[str, int] = {}
    for line in output.splitlines():
        if not line.strip():
            continue
        found = re.fullmatch(r"\s*(\d+)\s(.*)", line)
        if found is None:
            raise ValueError(f"not a `uniq -c` line: {line!r}")
        value = found[2].strip()
        counts[value] = counts.get(value, 0) + int(found[1])
    return counts


def captured(text: str, response: HttpResponse) -> tuple[str, Any]:
    """The variable a `capture:` line names, and its value in the response (or `_MISSING`)."""
    found = _CAPTURE.match(text)
    assert found is not None
    if found["header"] is not None:
        return found["name"], response.headers.get(found["header"].lower(), _MISSING)
    try:
        document = response.json()
    except ValueError:
        return found["name"], _MISSING
    return found["name"], resolve(document, found["path"])


# -- running -------------------------------------------------------------------------------------


class CaseFailedError(AssertionError):
    pass


@dataclass
class Outcome:
    """One run of a case's command, and what it printed."""

    returncode: int
    stdout: bytes
    stderr: bytes

    def show(self) -> str:
        text = self.stdout.decode(errors="replace")
        if len(text) > 3000:
            text = text[:3000] + "…"
        error = self.stderr.decode(errors="replace").strip()
        return f"exit status {self.returncode}\n{text}" + (f"\nstderr: {error}" if error else "")


def run_shell(command: str, env: Mapping[str, str], timeout: float, cwd: Path) -> Outcome:
    """Runs a command with bash in a process group of its own, killed if it outlives `timeout`."""
    process = subprocess.Popen(
        ["bash", "-c", "set -o pipefail\n" + command],
        env=dict(env),
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        return Outcome(-1, stdout, stderr + f"\n(killed after {timeout} s)".encode())
    return Outcome(process.returncode, stdout, stderr)


def curl_config(directory: Path, *, max_time: float) -> Path:
    """A `.curlrc` for the runner: quiet, errors shown, and a hang guard on every request."""
    (directory / ".curlrc").write_text(
        f"silent\nshow-error\nmax-time = {max_time}\nconnect-timeout = 5\n", encoding="utf-8"
    )
    return directory


class Runner:
    """Runs cases in order, carrying the variables that `capture:` lines set."""

    def __init__(
        self,
        env: Mapping[str, str],
        actions: Mapping[str, Callable[[], None]],
        *,
        work_dir: Path,
        command_timeout: float = 60.0,
        describe: Callable[[], str] = lambda: "",
    ) -> None:
        self.env = dict(env)
        self.variables: dict[str, str] = {}
        self.actions = actions
        self.command_timeout = command_timeout
        self.work_dir = work_dir  # where commands run (and write any file they save)
        self.describe = describe  # extra context for failures (e.g. the server's log tail)

    def run(self, case: Case) -> None:
        if case.action is not None:
            if case.action not in self.actions:
                raise CaseFailedError(f"{case.name}: no such action {case.action!r}")
            self.actions[case.action]()
            return
        retry = case.expected("retry")
        deadline = time.monotonic() + (float(retry[0].text[:-1]) if retry else 0.0)
        while True:
            outcome, failures, output = self._attempt(case)
            if not failures or time.monotonic() >= deadline:
                break
            time.sleep(0.25)
        if failures:
            command = case.command or ""
            shown = output.show() if isinstance(output, HttpResponse) else outcome.show()
            context = self.describe()
            raise CaseFailedError(
                f"{case.name} failed:\n  - "
                + "\n  - ".join(failures)
                + f"\n\ncommand:\n{command}\n\nresponse:\n{shown}"
                + (f"\n\n{context}" if context else "")
            )
        for capture in case.expected("capture"):
            assert isinstance(output, HttpResponse)
            name, value = captured(capture.text, output)
            self.variables[name] = value if isinstance(value, str) else json.dumps(value)

    def _attempt(self, case: Case) -> tuple[Outcome, list[str], Any]:
        env = {**self.env, **self.variables}
        outcome = run_shell(case.command or "", env, self.command_timeout, self.work_dir)
        if outcome.returncode != 0:
            return outcome, [f"the command failed ({outcome.returncode})"], None
        try:
            if case.kind == "http":
                response = parse_http(outcome.stdout)
                return outcome, self._check_http(case, response), response
            text = outcome.stdout.decode(errors="replace")
            if case.kind == "tally":
                return outcome, self._check_tally(case, parse_tally(text)), text
            if case.kind == "text":
                return outcome, self._check_stdout(case, text), text
            lines = [json.loads(line) for line in text.splitlines() if line.strip()]
            return outcome, self._check_log(case, lines), text
        except (ValueError, KeyError) as error:
            return outcome, [f"{type(error).__name__}: {error}"], None

    def _sub(self, text: str) -> str:
        return substitute(text, self.variables)

    def _check_http(self, case: Case, response: HttpResponse) -> list[str]:
        try:
            document: Any = response.json()
        except ValueError:
            document = None
        failures = []
        for e in case.expectations:
            check = getattr(self, f"_http_{e.key}", None)
            found = check(e.text, response, document) if check is not None else None
            if found is not None:
                failures.append(f"line {e.line}: {e.key}: {e.text} — {found}")
        return failures

    @staticmethod
    def _http_status(text: str, response: HttpResponse, _document: Any) -> str | None:
        return None if response.status == int(text) else f"got {response.status}"

    @staticmethod
    def _http_problem(text: str, response: HttpResponse, document: Any) -> str | None:
        status, code = text.split()
        content_type = response.headers.get("content-type", "")
        ok = (
            response.status == int(status)
            and content_type.startswith("application/problem+json")
            and isinstance(document, dict)
            and document.get("status") == int(status)
            and document.get("code") == code
            and all(isinstance(document.get(k), str) for k in ("type", "title", "detail"))
        )
        return None if ok else f"got {response.status} {content_type}"

    def _http_header(self, text: str, response: HttpResponse, _document: Any) -> str | None:
        check = _HEADER_CHECK.match(text)
        assert check is not None
        actual = response.headers.get(check["name"].lower(), _MISSING)
        argument = self._sub(check["arg"]) if check["arg"] is not None else None
        found = compare(actual, check["op"], argument, as_json=False)
        return None if found is None else f"got {found}"

    def _http_json(self, text: str, _response: HttpResponse, document: Any) -> str | None:
        check = _JSON_CHECK.match(text)
        assert check is not None
        actual = resolve(document, check["path"])
        if check["length"] and actual is not _MISSING:
            actual = len(actual) if isinstance(actual, list | dict | str) else _MISSING
        argument = self._sub(check["arg"]) if check["arg"] is not None else None
        found = compare(actual, check["op"], argument, as_json=True)
        return None if found is None else f"got {found}"

    @staticmethod
    def _http_body(text: str, response: HttpResponse, _document: Any) -> str | None:
        if text == "empty":
            return None if not response.body else "the body is not empty"
        found = re.search(text[2:], response.body.decode(errors="replace"))
        return None if found else "no match"

    @staticmethod
    def _http_capture(text: str, response: HttpResponse, _document: Any) -> str | None:
        _, value = captured(text, response)
        return "nothing to capture" if value is _MISSING or value is None else None

    def _check_tally(self, case: Case, counts: dict[str, int]) -> list[str]:
        failures: list[str] = []
        accounted: set[str] = set()
        for e in case.expected("tally"):
            found = _TALLY.match(e.text)
            assert found is not None
            patterns = [self._sub(p.strip()) for p in found["patterns"].split(" | ")]
            hits = {v for v in counts if any(fnmatch.fnmatchcase(v, p) for p in patterns)}
            accounted |= hits
            total = sum(counts[v] for v in hits)
            wanted = int(found["count"])
            holds = {"=": total == wanted, ">=": total >= wanted, "<=": total <= wanted}
            if not holds[found["op"]]:
                failures.append(f"line {e.line}: tally: {e.text} — counted {total}")
        failures.extend(
            f"unexpected output line: {counts[v]} × {v!r}" for v in counts if v not in accounted
        )
        return failures

    @staticmethod
    def _check_stdout(case: Case, text: str) -> list[str]:
        return [
            f"line {e.line}: stdout: {e.text} — no match"
            for e in case.expected("stdout")
            if re.search(e.text[2:], text) is None
        ]

    def _check_log(self, case: Case, lines: list[Any]) -> list[str]:
        failures = []
        for e in case.expected("log"):
            wanted = json.loads(self._sub(e.text))
            if not any(subset(line, wanted) for line in lines):
                failures.append(f"line {e.line}: no log line has {e.text}")
        return failures


# -- what the document covers --------------------------------------------------------------------


def successful_requests(cases: list[Case]) -> list[tuple[str, str, Case]]:
    """(method, path as written, case) of every HTTP case that expects a 2xx or 3xx status."""
    found = []
    for case in cases:
        if case.kind != "http" or case.command is None:
            continue
        statuses = [int(e.text) for e in case.expected("status")]
        request = curl_request(case.command)
        if request is not None and any(200 <= s < 400 for s in statuses):
            found.append((request.method, request.path, case))
    return found


def problem_codes(cases: list[Case]) -> set[tuple[int | None, str]]:
    """(status, code) of every `problem:` expectation, and (None, code) named in a tally."""
    codes: set[tuple[int | None, str]] = set()
    for case in cases:
        for e in case.expected("problem"):
            status, code = e.text.split()
            codes.add((int(status), code))
        for e in case.expected("tally"):
            codes.update((None, code) for code in re.findall(r'"code":"([a-z_]+)"', e.text))
    return codes
