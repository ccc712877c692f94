# Loop: the two commands a newcomer needs are `make up` and `make test`.
SHELL := /bin/bash
NEXTEST_PROFILE ?= default
PROFILE ?= dev

.PHONY: help up down test deps build fmt lint clean-state logs bench

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

deps: ## install/start PostgreSQL, Redis, the Tansu broker and cargo-nextest if missing
	@scripts/ensure-deps.sh

build: ## build every binary
	cargo build --workspace --bins --profile $(PROFILE)

up: deps ## start the whole platform locally with demo data
	@scripts/up.sh $(PROFILE)

down: ## stop everything `make up` started (not PostgreSQL/Redis)
	@scripts/down.sh

test: deps ## fmt check, clippy -D warnings, every test (nextest, against a throwaway broker)
	cargo fmt --all --check
	cargo clippy --workspace --all-targets --locked -- -D warnings
	scripts/test.sh $(NEXTEST_PROFILE)

bench: deps ## run every benchmark (release build); one summary in target/bench/summary.{md,json}
	rm -f target/bench/*.json
	cargo bench -p loop-feed-ranking --bench ranker
	cargo bench -p loop-wallet --bench gifts
	cargo bench -p loop-ads-auction --bench auction
	cargo bench -p loop-commerce --bench auction
	cargo bench -p loop-creator-marketplace --bench search
	cargo bench -p loop-commerce --bench checkout
	@# Upload -> HLS against ffmpeg alone, signed segment serving against a static server (docs/media.md).
	cargo bench -p loop-media --bench pipeline
	@# For You against most-popular, item-KNN and random on the committed sample log (docs/feed-ranking.md).
	cargo run --release -p loopctl -- eval --data tools/loopctl/data/eval-sample --targets ordering --json target/bench/eval.json
	@# The end-to-end benchmark needs the platform up (`make up`): included when it is.
	@if curl -fsS -o /dev/null http://127.0.0.1:8080/readyz; then \
	  cargo run --release -p loopctl -- simulate --duration 30s --bench-report --quiet; \
	else echo "gateway not up on :8080: skipping the end-to-end simulation (make up, then make bench)"; fi
	scripts/bench-summary.py

fmt: ## format the code
	cargo fmt --all

logs: ## follow the logs of the running platform
	tail -F .state/logs/*.log

clean-state: down ## stop, then delete ALL local platform state together (broker data, service databases, Loop's Redis keys, logs)
	@# The broker's topics, the databases and the ranker's Redis state must
	@# agree (the ranker's catalog is rebuilt from content.v1), so they go together.
	rm -rf .state
	psql -h 127.0.0.1 -U postgres -d postgres -qc 'DROP DATABASE IF EXISTS content WITH (FORCE)'
	psql -h 127.0.0.1 -U postgres -d postgres -qc 'DROP DATABASE IF EXISTS wallet WITH (FORCE)'
	psql -h 127.0.0.1 -U postgres -d postgres -qc 'DROP DATABASE IF EXISTS ads WITH (FORCE)'
	psql -h 127.0.0.1 -U postgres -d postgres -qc 'DROP DATABASE IF EXISTS marketplace WITH (FORCE)'
	psql -h 127.0.0.1 -U postgres -d postgres -qc 'DROP DATABASE IF EXISTS commerce WITH (FORCE)'
	psql -h 127.0.0.1 -U postgres -d postgres -qc 'DROP DATABASE IF EXISTS media WITH (FORCE)'
	redis-cli --scan --pattern 'loop:*' | xargs -r -n 500 redis-cli del > /dev/null
