# Stand-in for python:3.11-slim, built by scripts/compose-check from Debian's packages (public
# image registries are out of reach on our machines). What the project's Dockerfile relies on:
# /usr/local/bin/python3.11, and a `pip` that installs into that interpreter as root.
ARG BASE
FROM ${BASE}

# Debian's interpreter, linked where the real image has its own. `pip` runs pip straight from
# Debian's pip wheel (2 MB; python3-pip would add 25 MB to every image built on this one, the
# service's runtime stage included, which never uses it): as root it installs into /usr/local,
# as the real image's pip does. The EXTERNALLY-MANAGED marker (PEP 668) goes: the real image has
# none, and the Dockerfile's `pip install uv` is meant for the image's own interpreter.
RUN apt-get update \
    && apt-get install --yes python3.11 python3-pip-whl \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/debconf/*-old \
        /usr/lib/python3.11/EXTERNALLY-MANAGED \
    && ln -s /usr/bin/python3.11 /usr/local/bin/python3.11 \
    && ln -s python3.11 /usr/local/bin/python3 \
    && ln -s python3 /usr/local/bin/python \
    && printf '%s\n' '#!/bin/sh' \
        'exec /usr/local/bin/python3.11 "$(ls /usr/share/python-wheels/pip-*.whl | tail -n 1)/pip" "$@"' \
        >/usr/local/bin/pip \
    && chmod 0755 /usr/local/bin/pip \
    && ln -s pip /usr/local/bin/pip3 \
    && pip --version

# LANG as in the real image. SSL_CERT_FILE and PIP_CERT: tools with a root store of their own
# (uv, pip's vendored certifi) trust the system bundle too, which holds the host's local
# certificate authorities.
ENV LANG=C.UTF-8 \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt

CMD ["python3"]
