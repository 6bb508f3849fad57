# Everything runs inside a virtual environment that this Makefile creates: only python3 and make needed.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: test demo bench clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

test: $(VENV)/.installed
	$(PY) -m pytest -q

demo: $(VENV)/.installed
	$(PY) -m tinymeta demo

# Speed: ms per meta-iteration of every algorithm and how it grows (tinymeta/bench.py; a few minutes).
bench: $(VENV)/.installed
	$(PY) -m tinymeta.bench

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
