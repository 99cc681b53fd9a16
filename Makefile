# streamloop — the commands a user meets. `make demo` and `make test` are the two that matter.
# Real Pulsar: `make pulsar-up` (Java 17+ and Maven; fetches Pulsar 4.0.8 into .cache/pulsar), `make pulsar-down`;
# `make pulsar-up SECURE=1` for the secured standalone (TLS, token authentication, authorization).

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
SECURE ?= 0
# What `make deploy` uploads: code only, because the worker's python3 (this venv) already has every
# dependency, so instances start in seconds. dist/streamloop.zip (all wheels in deps/) is for workers
# that do not; it pip-installs ~90 MB of wheels at every instance start.
DEPLOY_ZIP ?= dist/streamloop-nodeps.zip
export DEPLOY_ZIP
# `make deploy PARTITIONS=4`: the stream topics (events, labels, features, predictions, examples) partitioned.
PARTITIONS ?= 0

.PHONY: venv demo test chaos bench lint docs validate pulsar-up pulsar-down pulsar-status cluster-up cluster-down \
	cluster-status package deploy undeploy status clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml packaging/constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -c packaging/constraints.txt -e '.[dev]'
	touch $@

demo: venv
	$(PY) -m streamloop demo

test: venv
	packaging/run-tests.sh

# Fault scenarios against a real standalone (kill -9, broker restart, bad input and models); ~10 min.
chaos: venv
	packaging/pulsar.sh up
	STREAMLOOP_REQUIRE_PULSAR=1 STREAMLOOP_CHAOS_REPORT=out/chaos.json $(PY) -m pytest tests/chaos -m chaos -p no:cacheprovider

# Every section, the real-Pulsar ones on the standalone (started if it is not up); ~25 min. Without a broker:
# `$(PY) -m streamloop.tools.bench --quick`.
bench: venv
	packaging/pulsar.sh up
	$(PY) -m streamloop.tools.bench --out out/bench.json

lint: venv
	$(VENV)/bin/ruff check functions tests packaging
	$(VENV)/bin/ruff format --check functions tests packaging

# Generated pages: the configuration reference (config schemas) and the command reference (the parser).
docs: venv
	$(PY) -m streamloop.tools.configdoc docs/configuration.md
	$(PY) -m streamloop.tools.clidoc docs/cli.md

validate: venv
	$(PY) -m streamloop validate pulsar-config

pulsar-up: venv
	PULSAR_SECURE=$(SECURE) packaging/pulsar.sh up

pulsar-down:
	PULSAR_SECURE=$(SECURE) packaging/pulsar.sh down

pulsar-status:
	PULSAR_SECURE=$(SECURE) packaging/pulsar.sh status

# The multi-node cluster on 127.0.0.1 (ZooKeeper, two bookies, two brokers, two function workers), from the same
# distribution: docs/production.md. It runs beside a standalone (other ports).
cluster-up: venv
	packaging/cluster.sh up

cluster-down:
	packaging/cluster.sh down

cluster-status:
	packaging/cluster.sh status

package: venv
	$(PY) packaging/build_zip.py
	$(PY) packaging/build_zip.py --no-deps

deploy: validate
	@test -f $(DEPLOY_ZIP) || $(PY) packaging/build_zip.py $(if $(findstring nodeps,$(DEPLOY_ZIP)),--no-deps,)
	PARTITIONS=$(PARTITIONS) PY=$(PY) packaging/deploy.sh deploy

undeploy:
	packaging/deploy.sh undeploy

status:
	packaging/deploy.sh status

clean:
	rm -rf dist out build .pytest_cache .ruff_cache
