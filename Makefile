# The two commands that matter: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat setup.cfg pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: run test test-long prove mutation bench chaos lint typecheck synth deploy-local stop-local clean

export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
# Newer jsii names the end-of-life banner apart (a list of major versions).
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
NODE_STAMP := node_modules/.installed

$(STAMP): setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,infra]'
	rm -f $(VENV)/.installed-* && touch $@

## run: the API on http://127.0.0.1:$${PORT:-8080} over an embedded moto server
run: $(STAMP)
	$(PY) -m entrypoints.local_server

# The cdk CLI, pinned in package-lock.json, in the project's own node_modules.
$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

## test: lint, type-check and the whole suite, in the project's own virtualenv
test: $(STAMP) $(NODE_STAMP) lint typecheck
	$(PY) -m pytest

## test-long: the consistency properties with thousands of examples
test-long: $(STAMP)
	CONSISTENCY_EXAMPLES=5000 AGREEMENT_EXAMPLES=200 SIMULATION_EXAMPLES=20000 $(PY) -m pytest tests/property tests/integration/test_fakes_agree.py tests/simulation/test_drawn.py

## prove: the simulation's bigger bounds: any fault anywhere, more actors, every schedule
prove: $(STAMP)
	$(PY) -m tests.simulation.prove

## mutation: mutmut over domain/, adapters/ and entrypoints/ (AREAS=... for fewer, MAX_CHILDREN=N to spare cores), each in mutation/<area>; lists the survivors and prints the scores
mutation: $(STAMP)
	$(PY) -m pip install --quiet -e '.[mutation]'
	$(PY) -m tests.mutation_areas $(if $(MAX_CHILDREN),--max-children $(MAX_CHILDREN)) $(AREAS)

## bench: the API handler against raw boto3, canned AWS answers; writes bench/results.json
bench: $(STAMP)
	$(PY) -m bench.run

## chaos: the whole system under a fault mix (SUBMISSIONS, SEED, MIX; CONCURRENT=1 for threads), invariants checked, chart drawn
chaos: $(STAMP)
	$(PY) -m chaos.run --submissions $${SUBMISSIONS:-300} --seed $${SEED:-7} $${MIX:+--mix $$MIX} $${CONCURRENT:+--concurrent}

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

typecheck: $(STAMP)
	$(PY) -m mypy

## synth: the CloudFormation template, offline, with cdk-nag's AwsSolutions checks
synth: $(STAMP) $(NODE_STAMP)
	node_modules/.bin/cdk synth --no-notices --no-version-reporting --quiet
	@echo "cdk.out/JobIntake.template.json written; no unacknowledged cdk-nag finding"

## deploy-local: deploy the stack with the real cdk CLI to a moto server on localhost
deploy-local: $(STAMP) $(NODE_STAMP)
	$(PY) -m infra.deploy_local

stop-local: $(STAMP)
	$(PY) -m infra.deploy_local --stop

clean:
	rm -rf $(VENV) node_modules cdk.out .pytest_cache .mypy_cache .hypothesis bench/.bundle-* chaos-report mutants mutation
