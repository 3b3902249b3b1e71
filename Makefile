# CodeCapsule Functions. The README documents every target; the two a fresh machine needs are `make run` and `make test`.
CARGO ?= cargo
SHELL := bash

.PHONY: run test lint fmt bench examples

## Every function's routes on one local port (PORT, default 8080), embedded defaults, judges in-process.
run:
	$(CARGO) run -p codecapsule-devhost

## The whole test suite, debug profile (the interpreter's crates are optimised even there; see Cargo.toml).
## Ends with one line totalling every test binary's results.
test:
	@log=$$(mktemp); set -o pipefail; \
	$(CARGO) test --workspace 2>&1 | tee "$$log"; status=$$?; \
	awk '/^test result:/ { passed += $$4; failed += $$6; ignored += $$8 } \
	     END { printf "tests: %d passed, %d failed, %d skipped\n", passed, failed, ignored }' "$$log"; \
	rm -f "$$log"; exit $$status

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
	$(CARGO) bench -p codecapsule-shared --features sandbox --bench native

## Rebuilds examples/wasi-sum/sum.wasm and examples/wasi-sum.json (needs: rustup target add wasm32-wasip1).
examples:
	examples/wasi-sum/build.sh
