# Stand-in for redis:7, built by scripts/compose-check from Debian's redis-server (7.0). What
# compose.yaml relies on: `redis-server` with the arguments it gives, reachable from the other
# containers, and redis-cli for the health check.
ARG BASE
FROM ${BASE}

RUN apt-get update \
    && apt-get install --yes redis-server \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/debconf/*-old \
    && install --directory --owner redis --group redis /data

COPY redis-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
VOLUME /data
WORKDIR /data
ENTRYPOINT ["docker-entrypoint.sh"]
EXPOSE 6379
CMD ["redis-server"]
