# Two commands set up a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch first, by exact version, so pip takes the local wheel instead of resolving a newer one
	$(PY) -m pip install --quiet "torch==2.14.1" "torchvision==0.29.1"
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

# The main job: S2H-Synth, self-supervised training on CPU, evaluation with baselines, report.
demo: $(STAMP)
	$(VENV)/bin/s2h demo --out runs/demo --data data/s2h_synth

test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) bench/bench_hand_model.py

clean:
	rm -rf $(VENV) out .pytest_cache .ruff_cache
