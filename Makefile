# Every target bootstraps what it needs (Python 3.13 from the machine, uv, the locked env).
# The two commands a newcomer needs: `make demo` and `make test`.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
ENV ?= local
export UV_PYTHON_DOWNLOADS := never
# installed modules are compiled to bytecode at install time (see scripts/bootstrap.sh)
export UV_COMPILE_BYTECODE := 1

UV = $$(scripts/bootstrap.sh)

.PHONY: help setup prerequisites test test-fast test-unit test-e2e loadgen lint fmt bench bench-patches template deploy \
        local-up local-down local-status demo consume status replay redrive clean diff destroy logs \
        acceptance soak

help:  ## list targets
	@grep -E '^[a-z0-9-]+:.*## ' Makefile | sed 's/:.*## /\t/'

setup:  ## install Python deps (locked) and the security scanner env
	@uv=$(UV); $$uv sync --frozen --quiet --project tools/checkov --python .venv/bin/python
	@echo "setup: environment ready (.venv)"

lint:  ## ruff + mypy
	@uv=$(UV); $$uv run --frozen --no-sync ruff check . && $$uv run --frozen --no-sync ruff format --check . \
	  && $$uv run --frozen --no-sync mypy .

fmt:  ## apply ruff fixes and formatting
	@uv=$(UV); $$uv run --frozen --no-sync ruff check --fix . && $$uv run --frozen --no-sync ruff format .

prerequisites:  ## check what the tests need from the machine (GNU tar reads every bundle)
	@tar --version 2>/dev/null | head -1 | grep -q "GNU tar" || { \
	  echo "make: GNU tar is required by the tests (bundles must extract with stock tar):" \
	       "install it (Debian: apt-get install tar; macOS: brew install gnu-tar)" >&2; exit 1; }

test: setup lint prerequisites  ## everything: lint, unit, template, LocalStack integration and e2e suites
	@uv=$(UV); $$uv run --frozen --no-sync pytest

test-fast: setup lint prerequisites  ## everything except the slow scenarios
	@uv=$(UV); $$uv run --frozen --no-sync pytest -m "not slow"

test-e2e:  ## only the acceptance scenarios on the deployed local stack
	@uv=$(UV); $$uv run --frozen --no-sync pytest -m e2e

test-unit: prerequisites  ## unit tests only (no LocalStack)
	@uv=$(UV); $$uv run --frozen --no-sync pytest -m "not integration and not e2e"

bench: setup  ## benchmarks: print figures, assert nothing
	@uv=$(UV); $$uv run --frozen --no-sync python -m tests.benchmarks

bench-patches: setup  ## what each group of LocalStack speed patches buys (~20 min; BENCH_PATCH_ROUNDS=)
	@uv=$(UV); $$uv run --frozen --no-sync python -m tests.benchmarks.speed_patches

template:  ## write build/$(ENV)/pipeline.json
	@uv=$(UV); $$uv run --frozen --no-sync aggregator template --env $(ENV)

deploy:  ## package, show the change set, ask, deploy (YES=1 skips the question; ENV=local: LocalStack)
	@uv=$(UV); $$uv run --frozen --no-sync aggregator deploy --env $(ENV) $(if $(YES),--yes)

diff:  ## show what `make deploy` would change; nothing is executed or uploaded
	@uv=$(UV); $$uv run --frozen --no-sync aggregator diff --env $(ENV)

destroy:  ## delete the stack after confirmation; the buckets and their data are retained
	@uv=$(UV); $$uv run --frozen --no-sync aggregator destroy --env $(ENV)

logs:  ## a function's CloudWatch Logs: make logs FUNCTION=copier [ARGS="--since 1h --follow"]
	@uv=$(UV); $$uv run --frozen --no-sync aggregator logs $(or $(FUNCTION),ingest) --env $(ENV) $(ARGS)

# A second stack beside the first: `make local-up PORT=4600 STATE_DIR=/tmp/stack2`, then
# `make deploy status loadgen PORT=4600` (PORT also points the other targets at that stack).
# Commands act only on a LocalStack this project started (found by port or state folder); any
# other one is refused unless named on purpose with AWS_ENDPOINT_URL=... (scripts/local.py).
LOCAL_ARGS = $(if $(PORT),--port $(PORT)) $(if $(STATE_DIR),--state-dir $(STATE_DIR))
ifdef PORT
export LOCALSTACK_HOST := 127.0.0.1:$(PORT)
endif

local-up:  ## start the embedded LocalStack (127.0.0.1:4566; PORT=, STATE_DIR= for another one)
	@uv=$(UV); $$uv run --frozen --no-sync aggregator local up $(LOCAL_ARGS)

local-down:  ## stop the embedded LocalStack (PORT=, STATE_DIR= for another one)
	@uv=$(UV); $$uv run --frozen --no-sync aggregator local down $(LOCAL_ARGS)

local-status:  ## is the embedded LocalStack running? (exit 1 if not; PORT=, STATE_DIR= for another one)
	@uv=$(UV); $$uv run --frozen --no-sync aggregator local status $(LOCAL_ARGS)

demo: setup  ## the whole pipeline on the embedded LocalStack: deploy, feed, consume, verify (PORT=, STATE_DIR=)
	@uv=$(UV); $$uv run --frozen --no-sync aggregator demo $(LOCAL_ARGS) $(DEMO_ARGS)

loadgen:  ## upload a seeded mix of files to Landing: make loadgen FILES=500 RATE=10
	@uv=$(UV); $$uv run --frozen --no-sync aggregator loadgen --env $(ENV) --files $(or $(FILES),100) \
	  --rate $(or $(RATE),10)

consume:  ## drain Distribution once into ./consumed (ENV=local by default)
	@uv=$(UV); $$uv run --frozen --no-sync aggregator consume --env $(ENV) --once --output consumed

status:  ## one screen of pipeline health (ENV=local by default)
	@uv=$(UV); $$uv run --frozen --no-sync aggregator status --env $(ENV)

replay:  ## copy archived bundles back to Distribution: make replay ARGS="--since 2026-11-26T10 --dry-run"
	@uv=$(UV); $$uv run --frozen --no-sync aggregator replay --env $(ENV) $(ARGS)

redrive:  ## bring back parked work: make redrive ENV=prod WHAT=errors|dlq [FUNCTION=ingest|copier] [ARGS=--dry-run]
	@uv=$(UV); $$uv run --frozen --no-sync aggregator redrive $(or $(WHAT),errors) --env $(ENV) \
	  $(if $(FUNCTION),--function $(FUNCTION)) $(ARGS)

acceptance:  ## does the deployed stack work and meet the SLO? make acceptance ENV=dev [SCALE=small] (default full)
	@uv=$(UV); $$uv run --frozen --no-sync aggregator acceptance --env $(ENV) --scale $(or $(SCALE),full) $(ARGS)

soak:  ## fault soak on the local stack: FILES=2000 at RATE=10 files/s with FAULTS=5 % (PORT= for another stack)
	@uv=$(UV); $$uv run --frozen --no-sync aggregator acceptance --env local --faults $(or $(FAULTS),5) \
	  --files $(or $(FILES),2000) --rate $(or $(RATE),10) $(ARGS)

clean:  ## remove build output and local state (keeps .venv)
	rm -rf build .localstack .pytest_cache .mypy_cache .ruff_cache
