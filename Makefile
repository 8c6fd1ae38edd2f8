# Order-tracking incremental load: the two commands a new user needs are `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: prereqs run test test-fast lint up drop tables jars venv constraints clean bench deploy-databricks deploy-composer

$(STAMP): requirements.txt requirements-dev.txt constraints.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip==25.3"
	$(PY) -m pip install --quiet -r requirements.txt -r requirements-dev.txt -c constraints.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

venv: $(STAMP)

jars: venv  ## fetch and cache Delta Lake and GCS connector jars in .cache/jars
	@command -v java >/dev/null || { echo "Java 17+ is required for Spark (e.g. apt-get install openjdk-17-jre-headless)"; exit 1; }
	$(PY) -m local_stack.jars

run: venv jars  ## one DAG run end to end on the local stack (INPUT="a.csv 'my file (2).csv'" to drop your own files)
	$(PY) -m local_stack.run_pipeline $(if $(INPUT),--input-list "$$INPUT")

prereqs:  ## machine packages the tests need (Java 17, Chromium): installs them as root, else says how
	bash .ci/prereqs

# Two pytest-xdist workers (one per core here), each with its own emulator, runner and Spark JVM;
# tests sharing something expensive to build stay on one worker (tests/work_units.py).
# TEST_WORKERS=0 runs everything in one process.
TEST_WORKERS ?= 2
test: prereqs venv jars lint  ## the whole test suite (lint, type checks, unit, Spark + Delta, end to end)
	SUITE_BUDGET_SECONDS=600 SPARK_LOCAL_IP=127.0.0.1 $(PY) -m pytest -n $(TEST_WORKERS)

FAST_TESTS = tests/batch_documents tests/dags tests/plugins tests/spark_tasks/test_contract.py tests/spark_tasks/test_transforms.py
test-fast: venv jars  ## before each commit (<= 90 s): the DAG, plugins, batch documents, contract and transforms
	SUITE_BUDGET_SECONDS=90 SPARK_LOCAL_IP=127.0.0.1 $(PY) -m pytest -m "not e2e" $(FAST_TESTS)

bench: venv jars  ## benchmarks (stage, merge, DAG parse, end-to-end latency, orchestration) -> docs/benchmarks.md; SCALE=0.1 for a tenth, SMOKE=1 for a quick check
	$(PY) -m bench $(if $(SCALE),--scale $(SCALE)) $(if $(SMOKE),--smoke --out-dir .local/bench-smoke) $(if $(SECTIONS),--sections $(SECTIONS))

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

up: venv jars  ## long-running mode: Airflow UI on http://127.0.0.1:8080 against the local stack
	$(PY) -m local_stack.stack

tables: venv jars  ## print the local Delta tables (counts, history, a few rows)
	$(PY) -m local_stack.show_tables

drop: venv  ## upload FILES="a.csv b.csv" to the running long-running stack's staging prefix
	$(PY) -m local_stack.drop --file-list "$$FILES"

deploy-databricks: venv  ## build the spark_tasks wheel and upload it to the DAG's volume path (ARGS="--dry-run", "--profile P", "--wheel-uri /Volumes/...")
	$(PY) -m deploy.databricks $(ARGS)

deploy-composer: venv  ## copy dags/ and the plugins/ packages to Composer (ARGS="--bucket B --dry-run" or "--environment E --location R")
	$(PY) -m deploy.composer $(ARGS)

.PHONY: deploy-pubsub
deploy-pubsub: venv  ## topic, bucket OBJECT_FINALIZE notification and Airflow subscription of the event-driven start, and their IAM (ARGS="--project P --dry-run")
	$(PY) -m deploy.pubsub_notifications $(ARGS)

constraints: venv  ## re-freeze the tested set after changing a pin
	{ echo "# The tested set: install with  pip install -r requirements.txt -r requirements-dev.txt -c constraints.txt"; \
	  echo "# Regenerate with  make constraints  after changing a pin."; \
	  $(PY) -m pip freeze --exclude-editable; } > constraints.txt

clean:  ## forget local state (tables, Airflow DB, emulator data); keeps the venv and jar cache
	rm -rf .local

# Lanes: the other Airflow lines Cloud Composer offers (README, "Support"), each in a venv of its own
# (.venv-<lane>) installed from its frozen lock, lanes/<lane>/constraints.txt. A lane runs the DAG
# integrity and policy tests, the alert delivery tests and the run-start tests (schedule or events
# mode, tests/plugins/test_run_start.py) on real Airflow of that line.
.PHONY: lanes
LANES = airflow-2.11 airflow-3.1 airflow-3.2
LANE_TESTS = tests/dags tests/plugins/test_alerts.py tests/plugins/test_run_start.py

# a pattern rule's target is an intermediate file make deletes after use: keep the stamp
.PRECIOUS: .venv-%/.installed-stamp
.venv-%/.installed-stamp: lanes/%/requirements.in lanes/%/constraints.txt lanes/test-tools.in
	test -x .venv-$*/bin/python || $(PYTHON) -m venv .venv-$*
	.venv-$*/bin/python -m pip install --quiet --upgrade "pip==25.3"
	.venv-$*/bin/python -m pip install --quiet -r lanes/$*/requirements.in -r lanes/test-tools.in -c lanes/$*/constraints.txt
	touch $@

lane-%: .venv-%/.installed-stamp  ## one lane's tests, e.g. make lane-airflow-2.11
	SPARK_LOCAL_IP=127.0.0.1 .venv-$*/bin/python -m pytest $(LANE_TESTS)

# The end-to-end `airflow dags test` run on a lane's Airflow: the test process (this venv: the
# emulator, the runner, Spark) starts the stack, and the lane's venv migrates its own metadata DB
# and runs the DAG (the tests marked lane_e2e; on 2.11 also its scheduler and triggerer).
LANES_E2E = airflow-2.11
lanes: $(addprefix lane-,$(LANES)) $(addprefix lane-e2e-,$(LANES_E2E))  ## every lane's tests

lane-e2e-%: .venv-%/.installed-stamp prereqs venv jars  ## a lane's end-to-end run, e.g. make lane-e2e-airflow-2.11
	ORDER_TRACKING_TEST_AIRFLOW_PYTHON=$(CURDIR)/.venv-$*/bin/python SPARK_LOCAL_IP=127.0.0.1 \
	  $(PY) -m pytest -p no:cacheprovider -m lane_e2e tests/test_end_to_end.py tests/live/test_airflow2_scheduler.py

lane-freeze-%:  ## re-resolve a lane from its requirements.in and freeze its lock, e.g. make lane-freeze-airflow-2.11
	test -x .venv-$*/bin/python || $(PYTHON) -m venv .venv-$*
	.venv-$*/bin/python -m pip install --quiet --upgrade "pip==25.3"
	.venv-$*/bin/python -m pip install --quiet -r lanes/$*/requirements.in -r lanes/test-tools.in
	{ echo "# The $* lane's tested set: pip install -r lanes/$*/requirements.in -r lanes/test-tools.in -c lanes/$*/constraints.txt"; \
	  echo "# Regenerate with  make lane-freeze-$*  after changing a pin."; \
	  .venv-$*/bin/python -m pip freeze; } > lanes/$*/constraints.txt
	touch .venv-$*/.installed-stamp
