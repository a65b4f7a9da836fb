# The two commands of the README: `make run` (the demo end to end) and `make test`.
SHELL := /bin/bash
UV := $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
VENV := .venv
export UV_PYTHON_DOWNLOADS := never
# Installed packages are compiled to bytecode once, at install: a process otherwise compiles
# every module it imports, and where PYTHONDONTWRITEBYTECODE is set (as on this project's
# machines) it does so at every start (Dagster's imports: 2.4-2.8 s instead of 1.0 s).
export UV_COMPILE_BYTECODE := 1

.PHONY: run test dev lint bench env clean-local prerequisites

$(UV):
	python3 -m pip install --quiet --user uv || python3 -m pip install --quiet --break-system-packages --user uv

# The `mysqlclient` extra (an extract backend) builds against libmariadb. Without its headers
# everything else is installed and the extract backend `auto` uses pymysql; after
# `apt-get install libmariadb-dev pkg-config`, `rm .venv/.synced && make env` adds it.
MYSQLCLIENT_SKIP := $(shell for p in mysqlclient mariadb libmariadb; do \
  pkg-config --exists $$p 2>/dev/null && exit 0; done; echo --no-install-package mysqlclient)

$(VENV)/.synced: uv.lock pyproject.toml | $(UV)
	@[ -z "$(MYSQLCLIENT_SKIP)" ] || echo "note: libmariadb-dev/pkg-config missing: not" \
	  "installing mysqlclient (apt-get install libmariadb-dev pkg-config); extract uses pymysql"
	$(UV) sync --frozen --all-extras $(MYSQLCLIENT_SKIP)
	touch $@

# The local Dagster instance (.local/dagster, with dagster.yaml), named in the git-ignored
# .env: the etl-platform command and `dg dev` read DAGSTER_HOME and the demo's URL from there.
env: $(VENV)/.synced
	$(VENV)/bin/python -m etl_platform.project_env

run: env
	$(VENV)/bin/etl-platform demo run --run-days 7 --job etl_all

# Says what a machine lacks for the tests (servers, CI's drivers) before running them.
prerequisites: env
	$(VENV)/bin/python -m etl_platform.prerequisites

test: prerequisites
	$(VENV)/bin/pytest

# `dg dev` loads the project from pyproject.toml and reads .env itself (VIRTUAL_ENV: the
# project's venv is the active one, as dg expects).
dev: env
	VIRTUAL_ENV=$(CURDIR)/$(VENV) $(VENV)/bin/dg dev

lint: env
	$(VENV)/bin/ruff check .

# By hand only, never in CI: seed the bench shards on a private MariaDB and time the variants
# (bench/RESULTS.md). `make bench BENCH_ARGS="--shards 2 --orders 20000 --rounds 2"` is quick.
bench: env
	$(UV) sync --frozen --all-extras --group bench $(MYSQLCLIENT_SKIP)
	$(VENV)/bin/python -m bench.run $(BENCH_ARGS)

clean-local:
	-$(VENV)/bin/etl-platform demo down
	rm -rf .local

# The view studio (docs/studio.md) on http://127.0.0.1:8765/: STUDIO_ARGS="--port 9000" to change it.
studio: env
	$(VENV)/bin/etl-platform studio $(STUDIO_ARGS)
