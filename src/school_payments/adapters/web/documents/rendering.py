"""Where PDF and CSV statements are drawn: PDFs in a bounded pool of worker processes, so a long
statement neither holds the event loop nor takes more than its share of the CPUs; identical
concurrent requests share one render; a render nobody waits for any longer is dropped.

The pool's size is `PDF_RENDER_WORKERS` (default 1: one core drawing PDFs, the others serving
everything else; 0 draws in this process's threads, for tests and tools).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass
from typing import Literal

from starlette.concurrency import run_in_threadpool

from school_payments.adapters.web.documents.csv_document import school_csv, student_csv
from school_payments.adapters.web.documents.reading import school_document, student_document

Owner = Literal["student", "school"]
Format = Literal["pdf", "csv"]


@dataclass(frozen=True, slots=True)
class Rendered:
    body: bytes
    as_of: str
    next_cursor: str | None = None


def render(owner: Owner, body: bytes, kind: Format) -> Rendered:
    """The statement `body` (its JSON) drawn as `kind`; a pure function of its arguments, run in
    a worker process (plain names cross the process boundary, not objects compared by identity).

    The PDF library (fpdf2 with fontTools and Pillow, ~40 MB) is imported on the first PDF: by
    default only the render pool's processes draw PDFs, and the serving processes never load it.
    """
    draw_student, draw_school = student_csv, school_csv
    if kind == "pdf":
        from school_payments.adapters.web.documents.pdf import school_statement_pdf, student_pdf

        draw_student, draw_school = student_pdf, school_statement_pdf
    if owner == "student":
        student = student_document(body)
        return Rendered(draw_student(student), student.as_of.isoformat())
    school = school_document(body)
    return Rendered(draw_school(school), school.as_of.isoformat(), school.students.next_cursor)


def _warm() -> None:
    # The PDF library and the main font's coverage once per worker, not in the first request's.
    from school_payments.adapters.web.documents.pdf_fonts import main_coverage

    main_coverage()


def workers_setting() -> int:
    """`PDF_RENDER_WORKERS`, or 1."""
    return max(0, int(os.environ.get("PDF_RENDER_WORKERS", "1")))


class Renderer:
    """Draws each (representation identity) once at a time, however many requests ask for it."""

    def __init__(self, workers: int) -> None:
        self._workers = workers
        self._pool: Executor | None = None
        self._running: dict[str, asyncio.Future[Rendered]] = {}
        self._waiting: dict[str, int] = {}

    def _executor(self) -> Executor:
        if self._pool is None:
            # `spawn`: forking a process that runs an event loop and driver threads is unsafe.
            context = multiprocessing.get_context("spawn")
            self._pool = ProcessPoolExecutor(self._workers, context, initializer=_warm)
        return self._pool

    def _start(self, owner: Owner, body: bytes, kind: Format) -> asyncio.Future[Rendered]:
        if kind == "csv" or self._workers == 0:
            # A CSV takes milliseconds: a thread does, without copying the statement across.
            return asyncio.ensure_future(run_in_threadpool(render, owner, body, kind))
        loop = asyncio.get_running_loop()
        return loop.run_in_executor(self._executor(), render, owner, body, kind)

    async def rendered(
        self,
        key: str,
        owner: Owner,
        body: bytes,
        kind: Format,
        gone: Callable[[], Awaitable[bool]],
    ) -> Rendered | None:
        """The statement drawn, or None once `gone()` says the client left.

        `key` names the representation (its ETag): a request for a key being drawn waits for
        that render. When the last request waiting for a render leaves, the render is cancelled
        if it has not started; one already running finishes (it cannot be interrupted halfway)
        and its result still serves the next request through the caller's cache."""
        future = self._running.get(key)
        if future is None:
            future = self._start(owner, body, kind)
            self._running[key] = future
            self._waiting[key] = 0
            future.add_done_callback(lambda _: self._forget(key))
        self._waiting[key] += 1
        try:
            return await _unless_gone(asyncio.shield(future), gone)
        finally:
            if self._running.get(key) is future:  # not yet done, so not forgotten
                self._waiting[key] -= 1
                if self._waiting[key] == 0:
                    future.cancel()

    def _forget(self, key: str) -> None:
        self._running.pop(key, None)
        self._waiting.pop(key, None)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None


_POLL_SECONDS = 0.2


async def _unless_gone(
    work: Awaitable[Rendered], gone: Callable[[], Awaitable[bool]]
) -> Rendered | None:
    task = asyncio.ensure_future(work)
    watch = asyncio.ensure_future(_until_gone(gone))
    try:
        await asyncio.wait({task, watch}, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            return task.result()
        return None
    finally:
        watch.cancel()
        if not task.done():
            task.cancel()  # the shield: the shared render itself is the caller's to cancel


async def _until_gone(gone: Callable[[], Awaitable[bool]]) -> None:
    # Polled: Starlette tells of a disconnect only when asked (`Request.is_disconnected`).
    while not await gone():  # noqa: ASYNC110
        await asyncio.sleep(_POLL_SECONDS)


renderer = Renderer(workers_setting())
"""The process's renderer (its pool starts with the first PDF drawn)."""
