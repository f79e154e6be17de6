# Everything runs inside a local virtual environment that the targets create by themselves.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run demo test lint bench clean wheelhouse

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/callrec --demo

run: $(STAMP)
	$(VENV)/bin/callrec

# Most tests wait (on terminals, subprocesses, the recorder's settle time), so two workers per core.
WORKERS ?= $(shell echo $$(( $$(nproc) * 2 )))

# The suite runs after the checks that hold the structure: lint, format, import layers, types.
test: lint
	$(PY) -m pytest -n $(WORKERS) --dist worksteal -m "not serial"
	$(PY) -m pytest -m serial

lint: $(STAMP)
	$(VENV)/bin/ruff check console screens services demo_data tests
	$(VENV)/bin/ruff format --check console screens services demo_data tests
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

# Every wheel the console needs (no test tools), for a machine without a network: see README.
wheelhouse: $(STAMP)
	rm -rf wheelhouse
	$(PY) -m pip wheel -q --wheel-dir wheelhouse .

bench: $(STAMP)
	$(PY) -m tests.bench

clean:
	rm -rf $(VENV) build *.egg-info wheelhouse
