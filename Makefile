# Every target bootstraps its own virtualenv (.venv) from pyproject.toml on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-dev
CHECKOV_STAMP := .venv-checkov/.installed

.PHONY: demo test bench bench-quick clean lambda-zip lint-deploy checkov lock image image-smoke

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "audio_tasks needs Python >= 3.11"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

# checkov in a virtualenv of its own: its pins conflict with the project's (see the file).
$(CHECKOV_STAMP): deploy/requirements-checkov.txt
	$(PYTHON) -m venv .venv-checkov
	.venv-checkov/bin/python -m pip install --quiet --disable-pip-version-check -r deploy/requirements-checkov.txt
	touch $(CHECKOV_STAMP)

## make demo [FILES="a.mp3 b.wav"]: the whole job on the embedded local AWS stack
demo: $(STAMP)
	$(BIN)/audio-tasks demo $(FILES) --out demo-output

## make test: the test suite (starts its own emulator and workers)
test: $(STAMP) $(CHECKOV_STAMP)
	$(BIN)/python -m pytest

## make bench: every benchmark against the local stack (~10 min); prints the table,
## writes benchmarks/results.json. make bench-quick: a smaller run (~2 min).
bench: $(STAMP)
	$(BIN)/python -m benchmarks

bench-quick: $(STAMP)
	$(BIN)/python -m benchmarks --quick

## make lambda-zip: the CreateSampleRecord deployment package (needs PyPI)
lambda-zip: $(STAMP)
	$(BIN)/python -m deploy.lambda_package build/audio-tasks-lambda.zip

## make lock: docker/requirements.lock (the runtime dependencies of pyproject.toml) and
## docker/build-requirements.lock (its build backend): exact versions with hashes, for
## Linux and Python 3.11. Pins already there are kept; LOCK_ARGS=--upgrade moves all to the newest.
LOCK := $(BIN)/uv pip compile --quiet --generate-hashes --python-version 3.11 --python-platform linux \
	--custom-compile-command 'make lock' $(LOCK_ARGS)
lock: $(STAMP)
	$(LOCK) pyproject.toml -o docker/requirements.lock
	$(BIN)/python -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"], sep="\n")' \
		| $(LOCK) - -o docker/build-requirements.lock

## make image [IMAGE=audio-tasks:dev] [BASE_IMAGE=...]: build docker/Dockerfile with docker
## (if its daemon answers) or podman; without BASE_IMAGE, a stand-in base is made from
## Debian's packages where Docker Hub cannot be reached (docker/build.sh).
## make image-smoke: build it, then run it against the embedded local stack (docker/smoke.py).
ENGINE ?= $(shell docker info >/dev/null 2>&1 && echo docker || echo podman)
IMAGE ?= audio-tasks:dev
export CONTAINERS_CONF ?= $(CURDIR)/docker/containers.conf
image:
	docker/build.sh $(ENGINE) $(IMAGE) $(BASE_IMAGE)

image-smoke: image $(STAMP)
	$(BIN)/python docker/smoke.py $(ENGINE) $(IMAGE)

## make lint-deploy: cfn-lint the template, hadolint the Dockerfile, shellcheck docker/*.sh, then checkov
lint-deploy: $(STAMP) checkov
	$(BIN)/cfn-lint --include-checks I -- deploy/cloudformation/ecsAudioProcessing-cloudformation-template.json
	$(BIN)/hadolint --failure-threshold style docker/Dockerfile
	$(BIN)/shellcheck --severity=style docker/*.sh

## make checkov: checkov on the template (defaults, and every option on) and the Dockerfile
checkov: $(STAMP) $(CHECKOV_STAMP)
	$(BIN)/python -m deploy.security_scan

clean:
	rm -rf $(VENV) .venv-checkov demo-output .pytest_cache test-artifacts build
