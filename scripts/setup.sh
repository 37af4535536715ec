#!/usr/bin/env bash
# Installs, only if missing, what building and testing dify-bench needs on a fresh machine.
#   scripts/setup.sh build   toolchain for `make run` (wasm32 target, cargo-leptos, wasm-bindgen-cli, wasm-opt)
#   scripts/setup.sh test    the above plus PostgreSQL, Chromium and the browser-test npm packages
set -euo pipefail
cd "$(dirname "$0")/.."

want=${1:-build}
CARGO_LEPTOS_VERSION=0.3.10
BINARYEN_VERSION=132.0.0

log() { printf '\033[1;34m[setup]\033[0m %s\n' "$*" >&2; }

# The wasm-bindgen CLI must match the crate version pinned in Cargo.lock exactly.
wasm_bindgen_version() {
  awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock
}

apt_updated=0
apt_install() {
  if [ "$apt_updated" = 0 ]; then
    log "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    apt_updated=1
  fi
  log "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

setup_build() {
  if ! rustup target list --installed | grep -q '^wasm32-unknown-unknown$'; then
    log "adding the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
  fi
  if ! cargo leptos --version 2>/dev/null | grep -q "$CARGO_LEPTOS_VERSION"; then
    log "installing cargo-leptos $CARGO_LEPTOS_VERSION (takes ~11 minutes on 2 cores)"
    cargo install cargo-leptos --version "$CARGO_LEPTOS_VERSION" --locked --features no_downloads
  fi
  local wbv
  wbv=$(wasm_bindgen_version)
  if ! wasm-bindgen --version 2>/dev/null | grep -q "$wbv"; then
    log "installing wasm-bindgen-cli $wbv"
    # Not --locked: the CLI's own lock file asks for a webpki-roots the registry here does not serve.
    cargo install wasm-bindgen-cli --version "$wbv" --force
  fi
  if ! command -v wasm-opt >/dev/null 2>&1; then
    log "installing wasm-opt (npm binaryen@$BINARYEN_VERSION)"
    npm install -g --silent "binaryen@$BINARYEN_VERSION"
  fi
}

setup_test() {
  setup_build
  if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    apt_install postgresql
  fi
  if ! [ -x /usr/bin/chromium ]; then
    apt_install chromium
  fi
  if ! [ -d end2end/node_modules/playwright-core ]; then
    log "installing the browser-test npm packages"
    (cd end2end && npm ci --silent --no-audit --no-fund)
  fi
}

case "$want" in
  build) setup_build ;;
  test) setup_test ;;
  *) echo "usage: $0 build|test" >&2; exit 2 ;;
esac
