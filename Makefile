# CodeCapsule Functions. The README documents every target; the two a fresh machine needs are `make run` and `make test`.
CARGO ?= cargo

.PHONY: run test lint fmt bench examples

## Every function's routes on one local port (PORT, default 8080), embedded defaults, judges in-process.
run:
	$(CARGO) run -p codecapsule-devhost

## The whole test suite, debug profile (the interpreter's crates are optimised even there; see Cargo.toml).
test:
	$(CARGO) test --workspace

## rustfmt and clippy, warnings as errors.
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

## Release build, then the benchmarks; their report goes to stdout (BENCHMARKS.md holds the figures and the machine).
bench:
	$(CARGO) build --release -p codecapsule-validate
	$(CARGO) bench -p codecapsule-validate --bench judge

## Rebuilds examples/wasi-sum/sum.wasm and examples/wasi-sum.json (needs: rustup target add wasm32-wasip1).
examples:
	examples/wasi-sum/build.sh
