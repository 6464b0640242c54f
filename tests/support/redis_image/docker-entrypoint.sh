#!/bin/sh
# As the official image's entrypoint, in short: redis-server listens on
# every address with protected mode off, so other containers reach it.
set -eu
if [ "$1" = redis-server ]; then
    shift
    exec redis-server --bind 0.0.0.0 --protected-mode no "$@"
fi
exec "$@"
