# The two commands a newcomer needs: `make demo` and `make test`.
# Both create .venv on first use and install everything genlab needs into it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# torch is pinned to the CPU build first so the declared range (torch>=2.3) installs nothing more.
TORCH_SPEC ?= torch==2.13.0

.PHONY: venv demo test bench clean

$(BIN)/genlab: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q "$(TORCH_SPEC)"
	$(BIN)/pip install -q -e ".[test,tracking,audio,music,serve]"
	@touch $@

venv: $(BIN)/genlab

demo: venv
	$(BIN)/genlab demo

test: venv
	$(BIN)/python -m pytest tests

bench: venv
	$(BIN)/python benchmarks/write_benchmarks.py

clean:
	rm -rf $(VENV) runs build dist src/*.egg-info
