# refine: `make demo` sets up a venv and runs the quick example; `make test` sets up and runs the tests.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q

.PHONY: venv demo vision showcase test bench bench-quality clean

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

test: venv
	$(PY) -m pytest -q

bench: venv
	$(PY) benchmarks/speed/run.py

bench-quality: venv
	$(PY) benchmarks/efficacy/run.py
	@if [ -f "benchmarks/efficacy/.cache/studies/sail_optuna.pid+s0.db" ] && [ -f benchmarks/efficacy/.cache/studies/rvfl_optuna.db ]; then \
		$(PY) benchmarks/efficacy/run.py --group real; \
	else echo "bench-quality: real group skipped (studies missing; see benchmarks/README.md, Quality)"; fi

clean:
	rm -rf $(VENV) out .pytest_cache .hypothesis
