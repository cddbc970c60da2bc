# refine: `make demo` sets up a venv and runs the quick example; `make test` sets up and runs the tests.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q
, := ,

.PHONY: test-faults venv demo vision showcase check test test-min bench bench-quality clean

$(VENV)/.installed: pyproject.toml plugins/refine-protect/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip
	$(PIP) install -e ".[dev,postgres,report,interop,examples]" -e plugins/refine-protect
	touch $@

venv: $(VENV)/.installed

demo: venv
	$(PY) examples/quick/demo.py

vision: venv
	$(PY) examples/vision/sweep.py

# regenerates spaces/ (the vision lineage), the numbers in README.md and docs/report.png; a test fails when they are stale
showcase: venv
	$(PY) scripts/showcase.py

# Lint and format check (ruff) and type check (mypy: see [tool.mypy] in pyproject.toml).
check: venv
	$(PY) -m ruff check refine tests scripts benchmarks examples plugins
	$(PY) -m ruff format --check refine tests scripts benchmarks examples plugins
	$(PY) -m mypy

test: venv
	$(PY) -m pytest -q -n auto -m "not faults_long"

test-faults: venv
	$(PY) -m pytest -q -n auto tests/executor/test_faults.py

# The fast tests against the minimum versions pyproject.toml declares, in a
# throw-away venv outside the repo (scripts/min_constraints.py pins each to its minimum).
MINVENV ?= /tmp/refine-minvenv
MIN_EXTRAS := dev,postgres,report,interop
test-min:
	rm -rf $(MINVENV)
	$(PYTHON) -m venv $(MINVENV)
	$(PYTHON) scripts/min_constraints.py $(subst $(,), ,$(MIN_EXTRAS)) > $(MINVENV)/constraints.txt
	$(MINVENV)/bin/python -m pip --disable-pip-version-check -q install --only-binary :all: \
		-c $(MINVENV)/constraints.txt -e ".[$(MIN_EXTRAS)]" -e plugins/refine-protect
	$(MINVENV)/bin/python -m pip --disable-pip-version-check list 2>/dev/null | grep -iE "^(optuna|scipy|numpy|sqlalchemy|attrs|cattrs|click|rich|pluggy|pyyaml|scikit-learn|plotly|jinja2) "
	$(MINVENV)/bin/python -m pytest -q -n auto -m "not slow" -p no:cacheprovider

bench: venv
	$(PY) benchmarks/speed/run.py

bench-quality: venv
	$(PY) benchmarks/efficacy/run.py
	@if [ -f "benchmarks/efficacy/.cache/studies/sail_optuna.pid+s0.db" ] && [ -f benchmarks/efficacy/.cache/studies/rvfl_optuna.db ]; then \
		$(PY) benchmarks/efficacy/run.py --group real; \
	else echo "bench-quality: real group skipped (studies missing; see benchmarks/README.md, Quality)"; fi

clean:
	rm -rf $(VENV) out .pytest_cache .hypothesis
