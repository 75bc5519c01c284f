# delivery-guarantees: the verbs SAM users know, plus the Docker-free local cloud.
# `make` alone prints this help.
SHELL := /bin/bash
PYTHON ?= python3.13
VENV := .venv
PY := $(VENV)/bin/python
SAM_VENV := .tools/sam
SAM := $(SAM_VENV)/bin/sam
CHECKOV_VENV := .tools/checkov
CHECKOV := $(CHECKOV_VENV)/bin/checkov
PIP_TOOLS_VENV := .tools/pip-tools
STACK ?= delivery-guarantees
TEMPLATE ?= template.yaml
PYTEST_ARGS ?=
DEMO_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help install lock test unit model integration acceptance lint typecheck validate scan build deploy local demo dlq redrive logs invoke send bench clean

help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-z][a-zA-Z_-]*:.*## / {printf "  make %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# The virtual environment is rebuilt whenever a dependency file changes.
$(VENV)/.installed: pyproject.toml constraints.txt layers/shared/requirements.in
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt \
		-r layers/shared/requirements.in -e '.[dev]'
	touch $@

# Tools in venvs of their own, each installed from a lock file: every package pinned
# with its hashes (tools/*.txt, from tools/*.in by `make lock`).
$(SAM_VENV)/.installed: tools/sam-cli.txt
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet --disable-pip-version-check --require-hashes \
		-r tools/sam-cli.txt
	touch $@

$(PIP_TOOLS_VENV)/.installed: tools/pip-tools.txt
	$(PYTHON) -m venv $(PIP_TOOLS_VENV)
	$(PIP_TOOLS_VENV)/bin/pip install --quiet --disable-pip-version-check --require-hashes \
		-r tools/pip-tools.txt
	touch $@

PIP_COMPILE = $(PIP_TOOLS_VENV)/bin/pip-compile --quiet --generate-hashes --allow-unsafe \
	--strip-extras --no-emit-index-url --no-emit-find-links

lock: $(PIP_TOOLS_VENV)/.installed ## Re-resolve the lock files: the layer's (against constraints.txt) and the tools'
	$(PIP_COMPILE) -c constraints.txt -o layers/shared/requirements.txt layers/shared/requirements.in
	$(PIP_COMPILE) -o tools/sam-cli.txt tools/sam-cli.in
	$(PIP_COMPILE) -o tools/pip-tools.txt tools/pip-tools.in
	$(PIP_COMPILE) -o tools/checkov.txt tools/checkov.in

# checkov has a venv of its own too: its dependencies would clash with the project's.
$(CHECKOV_VENV)/.installed: tools/checkov.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --disable-pip-version-check --require-hashes \
		-r tools/checkov.txt
	touch $@

install: $(VENV)/.installed ## Create .venv (python3.13) with the pinned dependencies

# `make test` runs three lanes side by side and prints each one's output whole, in turn:
# the unit tests (one process, ~65 s of CPU), the model-based tests (one process, ~84 s
# of CPU), and the integration tests then the fast acceptance apps. The integration tests
# mostly wait (with warm endpoint starts, ~180 s of CPU in ~200 s of wall time alone on
# an idle 2-core machine), so they run in INTEGRATION_WORKERS pytest-xdist workers, a
# module whole in one worker (tests/integration/conftest.py says why); 0 runs them
# in-process. On an idle 2-core machine, one run each: 3 workers 208 s for make test
# (76 s of core time idle), 4 workers 169 s, 5 workers 182 s (the unit lane then ends
# last). Any lane failing fails `make test`.
MODEL_LOG := .local-cloud/model-tests.log
INTEGRATION_LOG := .local-cloud/integration-tests.log
INTEGRATION_WORKERS ?= 4
XDIST := -n $(INTEGRATION_WORKERS) --dist loadfile

test: $(VENV)/.installed ## Run the whole suite: unit, model-based and integration tests (then acceptance_fast) side by side
	@mkdir -p $(dir $(MODEL_LOG))
	@echo "$(PY) -m pytest tests/model $(PYTEST_ARGS) > $(MODEL_LOG)"
	@echo "$(PY) -m pytest tests/integration $(XDIST) $(PYTEST_ARGS), then" \
		"tests/acceptance -m acceptance_fast > $(INTEGRATION_LOG)"
	@echo "$(PY) -m pytest tests/unit $(PYTEST_ARGS)"
	@start=$$(date +%s); \
	{ $(PY) -m pytest tests/model $(PYTEST_ARGS); code=$$?; \
	  echo "tests/model took $$(( $$(date +%s) - start )) s"; exit $$code; } > $(MODEL_LOG) 2>&1 & model=$$!; \
	{ $(PY) -m pytest tests/integration $(XDIST) $(PYTEST_ARGS); integration=$$?; \
	  echo "tests/integration took $$(( $$(date +%s) - start )) s"; \
	  $(PY) -m pytest tests/acceptance -m acceptance_fast $(PYTEST_ARGS); acceptance=$$?; \
	  echo "tests/integration, then tests/acceptance, took $$(( $$(date +%s) - start )) s"; \
	  test $$integration -eq 0 && test $$acceptance -eq 0; } > $(INTEGRATION_LOG) 2>&1 & integration=$$!; \
	$(PY) -m pytest tests/unit $(PYTEST_ARGS); unit=$$?; \
	echo "tests/unit took $$(( $$(date +%s) - start )) s"; \
	wait $$model; model=$$?; \
	echo "---- tests/model, run beside tests/unit ($(MODEL_LOG)):"; cat $(MODEL_LOG); \
	wait $$integration; integration=$$?; \
	echo "---- tests/integration and tests/acceptance, run beside them ($(INTEGRATION_LOG)):"; \
	cat $(INTEGRATION_LOG); \
	echo "make test took $$(( $$(date +%s) - start )) s"; \
	test $$unit -eq 0 && test $$model -eq 0 && test $$integration -eq 0

unit: $(VENV)/.installed ## Run the fast unit tests only (no network)
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

model: $(VENV)/.installed ## Model-based tests: random schedules of faults and time (MODEL_EXAMPLES=2000 to search longer)
	$(PY) -m pytest tests/model $(PYTEST_ARGS)

integration: $(VENV)/.installed ## Run the integration tests against the local cloud (INTEGRATION_WORKERS side by side)
	$(PY) -m pytest tests/integration $(XDIST) $(PYTEST_ARGS)

# Public SAM apps vendored unchanged in tests/acceptance/apps (not linted, type-checked or
# scanned by bandit: not our code), each deployed on the local cloud and driven as its
# README says; `make test` runs only those marked acceptance_fast.
acceptance: $(VENV)/.installed ## Acceptance suite: public SAM apps deployed unchanged on the local cloud
	$(PY) -m pytest tests/acceptance $(PYTEST_ARGS)

lint: $(VENV)/.installed ## Lint and check formatting with ruff
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(VENV)/.installed ## Type-check with mypy
	$(VENV)/bin/mypy layers/shared/delivery_guarantees functions local_cloud demo benchmarks tests

validate: $(VENV)/.installed $(SAM_VENV)/.installed ## Validate the template (cfn-lint, sam validate --lint)
	$(VENV)/bin/cfn-lint $(TEMPLATE)
	$(SAM) validate --lint --template $(TEMPLATE) --region us-east-1

# checkov offline (--skip-download: no Prisma Cloud look-ups); its skips are commented
# beside each resource in the template. bandit reads its skips from pyproject.toml.
scan: $(VENV)/.installed $(CHECKOV_VENV)/.installed ## Security scans: checkov on the template, bandit on the code
	$(CHECKOV) --file $(TEMPLATE) --framework cloudformation --quiet --compact --skip-download
	$(VENV)/bin/bandit -c pyproject.toml -r layers functions local_cloud -q

build: $(SAM_VENV)/.installed ## sam build (python3.13, arm64)
	$(SAM) build --template $(TEMPLATE)

deploy: build ## sam deploy --guided
	$(SAM) deploy --guided

local: $(VENV)/.installed ## Run TEMPLATE as stack STACK on the local cloud until Ctrl-C
	$(PY) -m local_cloud up --template $(TEMPLATE) --stack $(STACK) $(LOCAL_ARGS)

dlq: $(VENV)/.installed ## List each DLQ's messages of stack STACK (age, receives, source, reason), none consumed
	$(PY) -m local_cloud dlq --stack $(STACK)

logs: $(VENV)/.installed ## Follow FUNCTION=<logical ID or name>'s log on the running local cloud
	@test -n "$(FUNCTION)" || { echo "usage: make logs FUNCTION=BillingFunction"; exit 2; }
	$(PY) -m local_cloud logs $(FUNCTION) --tail

redrive: $(VENV)/.installed ## Move DLQ=<logical ID or Output key>'s messages back to their source queue
	@test -n "$(DLQ)" || { echo "usage: make redrive DLQ=BillingDeadLetterQueue"; exit 2; }
	$(PY) -m local_cloud redrive --stack $(STACK) $(DLQ)

demo: $(VENV)/.installed ## Boot the local cloud, drive a scenario under faults, report each guarantee (DEMO_ARGS=--json)
	$(PY) -m demo $(DEMO_ARGS)

bench: $(VENV)/.installed ## Benchmarks: cold imports, local cloud throughput, start-up, worker memory
	$(PY) benchmarks/cold_imports.py
	$(PY) benchmarks/parallel_records.py
	$(PY) benchmarks/local_cloud_throughput.py
	$(PY) benchmarks/start_up.py
	$(PY) benchmarks/worker_memory.py

clean: ## Remove build output and local state (keeps .venv)
	rm -rf .aws-sam .local-cloud .pytest_cache .mypy_cache .ruff_cache
