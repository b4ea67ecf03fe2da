#!/bin/bash
# The stand-in redis:7's entrypoint. The real image builds Redis with protected mode off by
# default (containers reach it over the network, not on loopback); Debian's build keeps it on, so
# `--protected-mode no` is added unless the arguments set it. Runs as the redis user.
set -euo pipefail

if [ "${1:0:1}" = '-' ] || [ "${1%.conf}" != "$1" ]; then
  set -- redis-server "$@"
fi

if [ "$1" = redis-server ]; then
  case " $* " in
    *" --protected-mode "*) ;;
    *) set -- "$@" --protected-mode no ;;
  esac
  if [ "$(id -u)" = 0 ]; then
    chown -R redis:redis .
    exec setpriv --reuid=redis --regid=redis --init-groups "$@"
  fi
fi
exec "$@"
