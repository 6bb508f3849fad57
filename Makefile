# Everything runs inside a virtual environment that this Makefile creates: only python3 and make needed.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# `make ... PY=/some/python` runs with that interpreter (its packages installed already) and leaves .venv
# alone: tests/test_reproduce.py passes its own, so that `pytest` works however it was launched.
ifeq ($(origin PY),command line)
INSTALLED :=
else
INSTALLED := $(VENV)/.installed
endif

.PHONY: test demo bench clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

# The suite, one pytest process per core side by side (tests/parallel.py); `.venv/bin/python -m pytest` runs it in one.
test: $(INSTALLED)
	$(PY) tests/parallel.py

demo: $(INSTALLED)
	$(PY) -m tinymeta demo

# Speed: ms per meta-iteration of every algorithm and how it grows (tinymeta/lab/bench.py; a few minutes).
bench: $(INSTALLED)
	$(PY) -m tinymeta bench

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis

# What every tutorial prints and draws, written under its code blocks (tutorials/figures/NAME-BLOCK.png for
# figures), and each tutorial as a notebook beside it (tutorials/NAME.ipynb): tutorials/render.py. Run it
# after changing a tutorial or what it calls; tests/test_tutorials.py fails while an output is stale.
.PHONY: tutorials
tutorials: $(INSTALLED)
	$(PY) tutorials/render.py

# Figures of the tutorials, committed next to them (tutorials/figures/*.png).
.PHONY: figures
figures: $(INSTALLED)
	$(PY) tutorials/figures.py

# The published sinusoid results, reproduced (tinymeta/lab/reproduce.py): every run is independent, so
# `make -j2 reproduce` runs two at a time; a run whose result.json exists is skipped, a stopped one resumes.
RESULTS ?= results
REPRO_FLAGS ?=
# Every run of tinymeta/lab/protocol.py (`python -m tinymeta.lab.reproduce runs`; a test keeps the two equal),
# the published cells first, then the longest, so that two jobs finish together.
REPRO_MULTI := $(foreach a,enhanced metacurvature lslr maml,$(foreach k,10 5,$(a)-5step-k$(k)))
REPRO_ONE := $(foreach a,enhanced metacurvature maml metasgd pretrain fomaml lslr anil reptile,$(a)-k5 $(a)-k10)
REPRO_SINUSOID := maml-finn-k10 pretrain-finn-k10 $(REPRO_MULTI) imaml-k10 imaml-k5 cavia-k10 cavia-k5 $(REPRO_ONE)
# Omniglot: 5-way 1- and 5-shot of six algorithms, 20-way 1-shot on each background set, the nearest-neighbour baseline.
REPRO_OMNIGLOT := $(foreach a,maml fomaml reptile anil metasgd pretrain,omniglot-$(a)-5w1s omniglot-$(a)-5w5s) \
  $(foreach a,maml anil,$(foreach b,small1 small2 both,omniglot-$(a)-20w1s-$(b))) omniglot-nearest
REPRO_NAMES := $(REPRO_SINUSOID) $(REPRO_OMNIGLOT)
REPRO_RESULTS = $(foreach n,$(REPRO_NAMES),$(RESULTS)/runs/$(n)/result.json)
.PHONY: reproduce reproduce-smoke
reproduce: $(REPRO_RESULTS) | $(INSTALLED)
	$(PY) -m tinymeta.lab.reproduce table --results $(RESULTS)

$(RESULTS)/runs/%/result.json: | $(INSTALLED)
	$(PY) -m tinymeta.lab.reproduce run $* --results $(RESULTS) $(REPRO_FLAGS)

# The whole pipeline with tiny budgets, so that it cannot rot (tests/test_reproduce.py runs it): every sinusoid
# run, and of the Omniglot ones a selection by validation accuracy, a background set with Lake's runs, the baseline.
SMOKE ?= build/reproduce-smoke
REPRO_SMOKE := $(REPRO_SINUSOID) omniglot-reptile-5w1s omniglot-maml-20w1s-small1 omniglot-nearest
reproduce-smoke: | $(INSTALLED)
	$(MAKE) reproduce RESULTS=$(SMOKE) REPRO_NAMES="$(REPRO_SMOKE)" \
	  REPRO_FLAGS="--iterations 6 --validation-iterations 3 --tasks 8 --hidden 8"
