# Every target bootstraps its own virtualenv (.venv) from pyproject.toml on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-dev

.PHONY: demo test bench bench-quick clean

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "audio_tasks needs Python >= 3.11"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

## make demo [FILES="a.mp3 b.wav"]: the whole job on the embedded local AWS stack
demo: $(STAMP)
	$(BIN)/audio-tasks demo $(FILES) --out demo-output

## make test: the test suite (starts its own emulator and workers)
test: $(STAMP)
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) demo-output .pytest_cache test-artifacts
