#!/usr/bin/env bash
# Runs a command with a throwaway PostgreSQL cluster on 127.0.0.1 (a free port, trust auth),
# exported as TEST_POSTGRES_URL; the cluster is stopped and deleted afterwards, whatever happens.
#   scripts/with-postgres.sh cargo test ...
set -euo pipefail

bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [ -z "$bindir" ]; then
  echo "with-postgres: PostgreSQL is not installed (scripts/setup.sh test installs it)" >&2
  exit 1
fi

# PostgreSQL refuses to run as root: run the server as the `postgres` user when we are root.
# runuser lives in /usr/sbin, which a root shell's PATH does not always hold.
runuser=$(PATH=$PATH:/usr/sbin:/sbin command -v runuser || true)
if [ "$(id -u)" = 0 ] && [ -z "$runuser" ]; then
  echo "with-postgres: running as root needs runuser (util-linux) to start PostgreSQL as postgres" >&2
  exit 1
fi
as_pg() {
  if [ "$(id -u)" = 0 ]; then "$runuser" -u postgres -- "$@"; else "$@"; fi
}

dir=$(mktemp -d /tmp/dify-bench-pg.XXXXXX)
chmod 755 "$dir"
[ "$(id -u)" = 0 ] && chown postgres:postgres "$dir"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')

cleanup() {
  as_pg "$bindir/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT

as_pg "$bindir/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
as_pg "$bindir/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 60 \
  -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c max_connections=300" start >/dev/null

export TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$port/postgres"
echo "with-postgres: PostgreSQL ready at $TEST_POSTGRES_URL" >&2
"$@"
