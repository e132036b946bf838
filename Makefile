# The two commands a newcomer needs: `make demo` and `make test`.
# Both create .venv on first use and install everything genlab needs into it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# torch is pinned to the CPU build first so the declared range (torch>=2.3) installs nothing more.
TORCH_SPEC ?= torch==2.13.0

.PHONY: venv demo serve browser test bench clean

$(BIN)/genlab: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q "$(TORCH_SPEC)"
	$(BIN)/pip install -q -e ".[test,tracking,audio,music,serve]"
	@touch $@

venv: $(BIN)/genlab

demo: venv
	$(BIN)/genlab demo

# The demo model served: the REST API and the playground (prints the address). Trains the demo first if needed.
serve: venv
	@test -f runs/demo/best/config.json || $(BIN)/genlab demo
	$(BIN)/genlab serve runs/demo

# Chromium and its driver from Debian, for the playground's browser test (needs root or sudo; skipped when present).
browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	elif command -v sudo >/dev/null; then sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	else echo "make browser: cannot install chromium (not root, no sudo): the playground's browser test will be skipped"; fi

test: venv browser
	$(BIN)/python -m pytest tests

bench: venv
	$(BIN)/python benchmarks/write_benchmarks.py

clean:
	rm -rf $(VENV) runs build dist src/*.egg-info
