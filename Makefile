# refine: `make demo` sets up a venv and runs the quick example; `make test` sets up and runs the tests.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q

.PHONY: venv demo vision test bench clean

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

test: venv
	$(PY) -m pytest -q

bench: venv
	$(PY) benchmarks/speed/run.py

clean:
	rm -rf $(VENV) out .pytest_cache .hypothesis
