# Two commands set up a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Supported Python minor versions 3.$(PYTHON_MIN_MINOR)..3.$(PYTHON_MAX_MINOR): mediapipe
# 0.10.14 (the detect extra, the only release that runs offline) has no wheel after 3.12.
PYTHON_MIN_MINOR := 10
PYTHON_MAX_MINOR := 12
# The interpreter the set-up will use: the existing venv's, else $(PYTHON).
SETUP_PYTHON = $(if $(wildcard $(PY)),$(PY),$(PYTHON))

.PHONY: demo test lint bench clean check-python

check-python:
	@$(SETUP_PYTHON) -c 'import sys; v = sys.version_info; ok = (3, $(PYTHON_MIN_MINOR)) <= v[:2] <= (3, $(PYTHON_MAX_MINOR)); sys.exit(0 if ok else f"s2hand-lab needs Python 3.$(PYTHON_MIN_MINOR) to 3.$(PYTHON_MAX_MINOR) (mediapipe 0.10.14, the hand detector, has no wheel for newer ones), but $(SETUP_PYTHON) is Python {v.major}.{v.minor}. Install one of those and run e.g. make test PYTHON=python3.12 (after rm -rf $(VENV) if it was made with another).")'

# check-python runs first, every time (order-only: it never forces a reinstall).
$(STAMP): pyproject.toml | check-python
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch first, by exact version, so pip takes the local wheel instead of resolving a newer one
	$(PY) -m pip install --quiet "torch==2.14.1" "torchvision==0.29.1"
	$(PY) -m pip install --quiet -e ".[dev,detect]"
	touch $(STAMP)

# The main job: S2H-Synth, self-supervised training on CPU, evaluation with baselines, report.
demo: $(STAMP)
	$(VENV)/bin/s2h demo --out runs/demo --data data/s2h_synth

test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) bench/bench_hand_model.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
