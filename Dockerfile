# The service image: `school-payments` is the entrypoint, so `docker run IMAGE migrate` and
# `docker run IMAGE serve …` run the same commands as the CLI on a workstation.
#
# Two stages: the builder installs exactly what uv.lock pins (no dev tools) into /opt/venv; the
# runtime stage copies that virtual environment and nothing else. Both stages use the same base
# image, so the venv's interpreter path (/usr/local/bin/python3.11) exists in both.
#
# Built by `docker compose up --build` (see compose.yaml), or alone:
#   docker build --network host -t school-payments:local .
# scripts/compose-check (part of `make test`) builds it so, then runs compose. --network host
# only where containers on the default bridge cannot reach the package registries.

ARG PYTHON_IMAGE=python:3.11-slim

# -- build ----------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS builder

# The uv release scripts/bootstrap pins.
ARG UV_VERSION=0.13.8
RUN pip install --no-cache-dir --disable-pip-version-check "uv==${UV_VERSION}"

ENV UV_PROJECT_ENVIRONMENT=/opt/venv \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3.11 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_NO_CACHE=1

WORKDIR /build

# Dependencies first, in their own layer: it is rebuilt only when the lock file changes.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project

# Then the package itself, installed as a regular (non-editable) wheel: the runtime stage needs
# no source tree. The Alembic migrations ship inside the package.
COPY src ./src
RUN uv sync --frozen --no-dev --no-editable

# The wheels' compiled extensions carry their symbol tables: 72 MB of shared objects, 26 MB once
# stripped (what a Linux distribution ships). Nothing else changes in the venv.
RUN apt-get update \
    && apt-get install --yes --no-install-recommends binutils \
    && find /opt/venv -type f -name '*.so*' -exec strip --strip-unneeded {} +

# -- runtime --------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

# A fixed, unprivileged user. /app is its working directory and the only place it may write
# (the embedded SQLite default puts its file in the working directory; `serve --workers N`
# keeps its metrics files under /tmp).
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --shell /usr/sbin/nologin app \
    && install --directory --owner app --group app /app

COPY --from=builder /opt/venv /opt/venv

ENV PATH="/opt/venv/bin:${PATH}" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

WORKDIR /app
USER app

EXPOSE 8000

# Liveness of the process (GET /healthz), with the standard library: the slim image has no curl.
# It assumes the default port; a container started with another --port needs its own check.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]

ENTRYPOINT ["school-payments"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
