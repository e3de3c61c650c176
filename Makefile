# infolens developer entry points. Both targets build .venv from scratch on a fresh clone.
#
# torch is pinned on purpose: 2.13.0 is a small CPU wheel (the CI machine has no GPU).
# An unpinned `pip install torch` would pull a multi-GB CUDA build; torchvision only exists
# as a CUDA build (torch==2.14.1 torchvision==0.29.1, ~5.5 GB) and is therefore an optional
# extra that `make test` does not install.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
TORCH_PIN := torch==2.13.0
STAMP := $(VENV)/.installed

.PHONY: test demo lint bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): $(PY) pyproject.toml
	$(PY) -m pip install --quiet $(TORCH_PIN)
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m ruff check infolens tests benchmarks
	$(PY) -m pytest -q

demo: $(STAMP)
	$(PY) -m infolens demo

lint: $(STAMP)
	$(PY) -m ruff check infolens tests benchmarks

bench: $(STAMP)
	$(PY) benchmarks/bench_ei.py

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
