#!/usr/bin/env bash
# `make fuzz`: runs each cargo-fuzz target for FUZZ_SECONDS (default 60) seconds.
#   FUZZ_SECONDS=600 FUZZ_TARGETS="sse_parser scoring" scripts/fuzz.sh
# Targets (fuzz/fuzz_targets/): sse_parser (Dify stream parser, chunking-independent), import_cases
# (CSV/JSON import), scoring (normalize against its plain definition, similarity bounds),
# api_args (server-function JSON drafts and their validation).
# Built without a sanitizer (safe Rust; what is looked for is panics, overflow included via
# debug assertions), with the nightly toolchain that cargo-fuzz needs. A crash leaves its input
# in fuzz/artifacts/<target>/; reproduce with `cargo +nightly fuzz run <target> <file>`.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${FUZZ_SECONDS:-60}
targets=${FUZZ_TARGETS:-"sse_parser import_cases scoring api_args"}
if ! rustup toolchain list | grep -q '^nightly'; then
  echo "fuzz: installing the nightly toolchain (cargo-fuzz needs it)" >&2
  rustup toolchain install nightly --profile minimal
fi
if ! command -v cargo-fuzz >/dev/null; then
  echo "fuzz: installing cargo-fuzz" >&2
  cargo install cargo-fuzz --locked
fi
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/dify-bench/target}
export RUSTFLAGS="--cfg erase_components"
work=$CARGO_TARGET_DIR/fuzz-corpus
fails=0
for t in $targets; do
  mkdir -p "$work/$t"
  echo "fuzz: $t for ${secs}s" >&2
  if ! cargo +nightly fuzz run --sanitizer none --debug-assertions \
      --target-dir "$CARGO_TARGET_DIR/fuzz" "$t" "$work/$t" "fuzz/seeds/$t" \
      -- -max_total_time="$secs" -max_len=8192 -print_final_stats=1 2>&1 | tail -n 25; then
    echo "fuzz: $t FOUND A CRASH (input in fuzz/artifacts/$t/)" >&2
    fails=$((fails + 1))
  fi
done
[ "$fails" = 0 ] && echo "fuzz: 0 crashes in $targets" >&2
exit "$fails"
