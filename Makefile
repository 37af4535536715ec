# dify-bench — the two commands a user needs are `make run` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := run

# One target dir outside the clone, so fresh clones (and CI) reuse the build cache.
export CARGO_TARGET_DIR ?= $(HOME)/.cache/dify-bench/target
# cargo-leptos compiles with these; plain `cargo test` gets the same, so neither rebuilds the
# other's artefacts (leptos bakes them in at compile time).
export LEPTOS_OUTPUT_NAME := dify-bench
export LEPTOS_SITE_ROOT := target/site
export LEPTOS_SITE_PKG_DIR := pkg
export LEPTOS_SITE_ADDR := 127.0.0.1:3000
export LEPTOS_RELOAD_PORT := 3001
export LEPTOS_LIB_DIR := .
export LEPTOS_BIN_DIR := .
export LEPTOS_JS_MINIFY := false
export LEPTOS_HASH_FILES := false
# Every build erases component types, release included: a release WASM built with the full
# view types is 40% larger (BENCHMARKS.md, f), and one set of flags lets `make build`, `make test`
# and `make bench` share their artefacts.
export RUSTFLAGS := --cfg erase_components
SERVER_RELEASE := $(CARGO_TARGET_DIR)/release/dify-bench

.PHONY: run build test setup setup-test unit integration e2e lint fmt bench soak clean-data

## run: install what is missing, build (release), serve on 127.0.0.1:3000 with the demo
run: build
	$(SERVER_RELEASE) serve --demo

## build: the release build, skipped when nothing it is made from changed (scripts/build.sh;
## DIFY_BENCH_FORCE_BUILD=1 always builds)
build: setup
	scripts/build.sh

setup:
	scripts/setup.sh build

setup-test:
	scripts/setup.sh test

## test: install what is missing, then unit + integration (SQLite and PostgreSQL) + browser tests.
## The browser tests run against the release build: what `make run` serves is what is tested.
test: setup-test lint
	scripts/build.sh
	DIFY_BENCH_REQUIRE_PG=1 scripts/with-postgres.sh \
	  cargo test --features ssr --no-fail-fast
	$(MAKE) e2e

## e2e: browser tests in Debian's Chromium against the release build (`make build` first)
e2e:
	cd end2end && DIFY_BENCH_BIN=$(SERVER_RELEASE) npx playwright test

## lint: formatting and clippy on both feature sets
lint:
	cargo fmt --check
	cargo clippy --features ssr --all-targets -- -D warnings
	cargo clippy --lib --no-default-features --features hydrate \
	  --target wasm32-unknown-unknown --target-dir $(CARGO_TARGET_DIR)/front -- -D warnings

fmt:
	cargo fmt

clean-data:
	rm -rf data

## bench: the benchmarks of BENCHMARKS.md (release build; installs Node 22 + promptfoo under
## ~/.cache/dify-bench/bench-tools if missing; a throwaway PostgreSQL for the store figures)
bench: setup-test
	scripts/bench.sh

## soak: the long forms of the reliability suite (10,000-test fault storm, 10 kill -9 restarts,
## 10,000 SSE connect/disconnect cycles); the short forms run in `make test`
soak: setup-test
	DIFY_BENCH_SOAK=1 cargo test --release --features ssr \
	  --test reliability -- --nocapture --test-threads 1

.PHONY: fuzz
## fuzz: every cargo-fuzz target for FUZZ_SECONDS (default 60) each; 0 crashes expected
fuzz:
	scripts/fuzz.sh
