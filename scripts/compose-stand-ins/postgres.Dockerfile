# Stand-in for postgres:15, built by scripts/compose-check from Debian's postgresql-15. What
# compose.yaml relies on: POSTGRES_USER / POSTGRES_PASSWORD / POSTGRES_DB, the data volume at
# /var/lib/postgresql/data (initialised on first start), password authentication over TCP on
# every interface, pg_isready on the PATH, and a fast shutdown on `docker stop`.
ARG BASE
FROM ${BASE}

# No cluster from the package's postinst: the entrypoint creates one in the volume.
RUN mkdir -p /etc/postgresql-common/createcluster.d \
    && echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.d/stand-in.conf \
    && apt-get update \
    && apt-get install --yes postgresql-15 \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/debconf/*-old \
    && install --directory --owner postgres --group postgres --mode 0700 /var/lib/postgresql/data \
    && install --directory --owner postgres --group postgres --mode 3777 /var/run/postgresql

ENV PATH=/usr/lib/postgresql/15/bin:$PATH \
    PGDATA=/var/lib/postgresql/data \
    LANG=C.UTF-8

COPY postgres-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
VOLUME /var/lib/postgresql/data
ENTRYPOINT ["docker-entrypoint.sh"]
# SIGINT is PostgreSQL's fast shutdown (the real image's choice too).
STOPSIGNAL SIGINT
EXPOSE 5432
CMD ["postgres"]
