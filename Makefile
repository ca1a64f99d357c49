# One entry point for set-up, checks and tests. `make test` works on a fresh machine:
# it creates the venv, installs the deps, fetches Kafka from Maven Central, installs and starts
# MariaDB, then runs lint, types and the whole test suite against the real services.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

export TIUNDO_KAFKA ?= 127.0.0.1:9092
export TIUNDO_MYSQL ?= mysql://tiundo:tiundo@127.0.0.1:3306/tiundo_test

.PHONY: venv proto services stop check lint types unit test soak clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

## regenerate proto/*_pb2*.py from proto/*.proto (committed; tests/unit/proto/test_generated_fresh.py checks)
proto: $(STAMP)
	$(BIN)/python scripts/gen_proto.py

## start the real Kafka broker (KRaft, Maven Central jars) and MariaDB; both idempotent
services:
	scripts/kafka.sh start
	scripts/mariadb.sh start

stop:
	-scripts/kafka.sh stop
	-scripts/mariadb.sh stop

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check core app ingest simulator tests bench scripts

types: $(STAMP)
	$(BIN)/mypy

check: lint types

unit: $(STAMP)
	$(BIN)/pytest tests/unit tests/property -q

## the README's test command: everything, real services required (a missing one fails, never skips)
test: $(STAMP) services
	$(MAKE) check
	TIUNDO_REQUIRE_SERVICES=1 $(BIN)/pytest -q
	$(MAKE) soak

## the chaos soak (bench/chaos): SOAK_RUNS tiny seeded runs, each with 1-3 random faults of every
## kind (SOAK_FAULTS=a,b: only these), checked row by row against T; exit 1 on any wrong run,
## false success or hang (a few minutes)
SOAK_RUNS ?= 6
SOAK_SEED ?= 1
SOAK_FAULTS ?=
soak: $(STAMP) services
	$(BIN)/python -m bench.chaos --runs $(SOAK_RUNS) --seed $(SOAK_SEED) --size tiny --faults "$(SOAK_FAULTS)"

clean:
	rm -rf .run $(VENV) *.egg-info

.PHONY: demo
## the README's first command: services, the fake cluster, a torn downstream rewound to T and
## verified (scripts/demo.py); stops the fake cluster at the end, Kafka/MariaDB keep running
demo: $(STAMP) services
	$(BIN)/python scripts/demo.py
