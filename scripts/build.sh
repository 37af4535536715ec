#!/usr/bin/env bash
# The release build (`cargo leptos build --release --split`: the server binary and the site in
# target/site), skipped when nothing it is built from changed since the last build here.
#
# `--split` cuts the WASM into the main file and one chunk per lazily loaded page or dialog (the
# `#[lazy]` functions, src/ui/lazy.rs and app.rs), which the browser fetches on first use: the
# first page loads only the main file (BENCHMARKS.md, "WASM chunks"). cargo-leptos 0.3.10 does
# the split itself (no extra tool); the chunks land in target/site/pkg next to the main file.
#
# cargo-leptos regenerates the front end on every call (wasm-bindgen, wasm-opt, the CSS) even
# when no source changed, which took a warm `make run` 43 s before it served. So each build
# leaves a stamp in target/site: a hash of what goes into it (src/, style/, public/, migrations/,
# Cargo.toml, Cargo.lock, the toolchain and the build environment) and the fingerprint (size,
# mtime) of each artefact it made. The next call skips the build when the hash is the same and
# every artefact is still the one that build made — so a binary another clone rebuilt in the
# shared $CARGO_TARGET_DIR, or a deleted site, is built again.
#
#   scripts/build.sh            build if needed
#   DIFY_BENCH_FORCE_BUILD=1 scripts/build.sh   always build
set -euo pipefail
cd "$(dirname "$0")/.."

: "${CARGO_TARGET_DIR:=$HOME/.cache/dify-bench/target}"
site=${LEPTOS_SITE_ROOT:-target/site}
name=${LEPTOS_OUTPUT_NAME:-dify-bench}
pkg=${LEPTOS_SITE_PKG_DIR:-pkg}
stamp=$site/.build-stamp
artefacts=(
  "$CARGO_TARGET_DIR/release/$name"
  "$site/$pkg/$name.wasm"
  "$site/$pkg/$name.js"
  "$site/$pkg/$name.css"
  "$site/$pkg/__wasm_split_manifest.json"
)

log() { printf '\033[1;34m[build]\033[0m %s\n' "$*" >&2; }

# What the build is made from: every file under the source folders (names and contents), the
# manifest and lock file, the toolchain, and the environment cargo-leptos and rustc read.
inputs_hash() {
  {
    find src style public migrations -type f -print0 2>/dev/null | LC_ALL=C sort -z |
      xargs -0 -r sha256sum
    sha256sum Cargo.toml Cargo.lock
    for f in build.rs rust-toolchain rust-toolchain.toml .cargo/config.toml; do
      [ -f "$f" ] && sha256sum "$f"
    done
    rustc -V
    cargo leptos --version 2>/dev/null || true
    env | LC_ALL=C sort | grep -E '^(RUSTFLAGS|CARGO_TARGET_DIR|LEPTOS_[A-Z_]+)=' || true
  } | sha256sum | cut -d' ' -f1
}

# Size and modification time of each artefact; fails when one is missing.
artefact_prints() {
  local f
  for f in "${artefacts[@]}"; do
    [ -f "$f" ] || return 1
    stat -c '%s %Y %n' "$f"
  done
}

hash=$(inputs_hash)
if [ "${DIFY_BENCH_FORCE_BUILD:-0}" != 1 ] && [ -f "$stamp" ] &&
  prints=$(artefact_prints) && [ "$(printf '%s\n%s\n' "$hash" "$prints")" = "$(cat "$stamp")" ]; then
  log "up to date (nothing changed since the last build): skipping cargo leptos build"
  exit 0
fi

rm -f "$stamp"
# Chunks of an earlier build would stay next to the new ones (cargo-leptos does not remove them).
rm -f "$site/$pkg"/chunk_*.wasm "$site/$pkg"/split_*.wasm
cargo leptos build --release --split
if prints=$(artefact_prints); then
  printf '%s\n%s\n' "$hash" "$prints" >"$stamp"
else
  log "the build did not make every artefact (${artefacts[*]}): not stamped"
fi
