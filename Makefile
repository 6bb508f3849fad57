# Everything runs inside a virtual environment that this Makefile creates: only python3 and make needed.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: test demo clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

test: $(VENV)/.installed
	$(PY) -m pytest -q

demo: $(VENV)/.installed
	$(PY) -m tinymeta demo

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis

# Figures of the tutorials, committed next to them (tutorials/figures/*.png).
.PHONY: figures
figures: $(VENV)/.installed
	$(PY) tutorials/figures.py
