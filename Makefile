# streamloop — developer entry points.
# Real Pulsar: `make pulsar-up` (Java 17+ and Maven; fetches Pulsar into .cache/pulsar), `make pulsar-down`.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# What `make deploy` uploads: code only, because the worker's python3 (this venv) already has every
# dependency, so instances start in seconds. dist/streamloop.zip (all wheels in deps/) is for workers
# that do not; it pip-installs ~90 MB of wheels at every instance start.
DEPLOY_ZIP ?= dist/streamloop-nodeps.zip

.PHONY: venv pulsar-up pulsar-down pulsar-status package

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml packaging/constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -c packaging/constraints.txt -e '.[dev]'
	touch $@

pulsar-up: venv
	packaging/pulsar.sh up

pulsar-down:
	packaging/pulsar.sh down

pulsar-status:
	packaging/pulsar.sh status

package: venv
	$(PY) packaging/build_zip.py
	$(PY) packaging/build_zip.py --no-deps
