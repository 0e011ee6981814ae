# Everything a fresh machine needs: `make demo` and `make test` create .venv and install.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PIP_DISABLE_PIP_VERSION_CHECK = 1
DEMO_ARGS ?=

# PyPI's torch for Linux is the CUDA build: 2.74 GB to download (a 0.53 GB wheel, triton and
# 14 nvidia-* packages). PyTorch's CPU index has the same version as 2.13.0+cpu (0.19 GB),
# which pip prefers (a local version label sorts higher).
# `make TORCH_INDEX=` keeps PyPI's build; the index is used only when it answers.
ifeq ($(shell uname -s),Linux)
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
endif
TORCH_INDEX_ARGS = $(if $(TORCH_INDEX),$(shell $(PYTHON) -c "import sys, urllib.request; \
	urllib.request.urlopen(sys.argv[1], timeout=5)" $(TORCH_INDEX) >/dev/null 2>&1 && \
	echo --extra-index-url $(TORCH_INDEX)))

.PHONY: demo test test-slow lint bench bench-scale conformance clean chromium

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -c constraints.txt $(TORCH_INDEX_ARGS) -e '.[torch,tensorflow,dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m pytest examples -p no:cacheprovider -q \
		--coreml-report=reports/coreml-report.html --coreml-report=reports/coreml-report.md \
		--coreml-report=reports/coreml-report.json $(DEMO_ARGS)

# The HTML report is tested in headless Chromium: installed with apt (Debian/Ubuntu package
# `chromium`) when neither it nor Google Chrome is there; elsewhere (macOS runners ship Google
# Chrome) the tests find Chrome, or set COREMLCHECK_BROWSER.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

chromium:
	@command -v chromium >/dev/null || command -v google-chrome >/dev/null || \
		! command -v apt-get >/dev/null || \
		($(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium)

test: $(STAMP) chromium
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -m "not slow" -n 2

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow

lint: $(STAMP)
	$(BIN)/ruff check .

conformance: $(STAMP)
	$(BIN)/python conformance/run.py

bench: $(STAMP)
	$(BIN)/python benchmarks/executor_vs_torch.py --threads 1
	$(BIN)/python benchmarks/decoder_scale.py --sizes 125M

# The decoder at 125M, 350M and 1.1B parameters (converting all three takes about 20 minutes
# on two cores; the 1.1B conversion peaked near 13 GB of memory).
bench-scale: $(STAMP)
	$(BIN)/python benchmarks/decoder_scale.py --sizes 125M,350M,1B --modes compressed

clean:
	rm -rf $(VENV) reports .pytest_cache
