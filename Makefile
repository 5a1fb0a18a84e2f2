# careprep: `make run` starts everything, `make test` runs every check.
# Both set up .venv with Python 3.10 first (Rasa 3.6 runs on nothing newer).

SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
export RASA_TELEMETRY_ENABLED := false
export TF_CPP_MIN_LOG_LEVEL := 2

# Python 3.10: $(PYTHON) if given, else python3.10 on PATH if it runs, else pyenv's 3.10.
PYTHON310 = $(shell \
	for candidate in "$(PYTHON)" python3.10 "$$(pyenv prefix 3.10 2>/dev/null)/bin/python3.10" \
	    /usr/bin/python3.10 /usr/local/bin/python3.10; do \
	  [ -n "$$candidate" ] || continue; \
	  if "$$candidate" -c 'import sys; assert sys.version_info[:2] == (3, 10)' >/dev/null 2>&1; then \
	    command -v "$$candidate"; break; \
	  fi; \
	done)

.PHONY: help install browser nginx migrate train run scale-up validate lint safety-report test test-stories bench clean

help:
	@echo "make run       set up, migrate, train if needed, start everything (careprep up)"
	@echo "make scale-up  two of each process behind nginx, Redis lock store (PostgreSQL DATABASE_URL)"
	@echo "make test      set up, then lint, validate, pytest and Rasa test stories"
	@echo "make train     train the Rasa model if models/ has none for the current data"
	@echo "make validate  rasa data validate (warnings fail)"
	@echo "make lint      ruff, mypy and the import-linter contracts"
	@echo "make safety-report  safety netting recall and false alarms on the held-out half"
	@echo "make browser   install chromium for the browser tests (make test does this)"
	@echo "make nginx     install nginx and redis-server for the scale-out set-up (make test does this)"
	@echo "make bench     measure training, model load, reply latency and memory"

$(STAMP): pyproject.toml
	@python310="$(PYTHON310)"; \
	if [ -z "$$python310" ]; then \
	  echo "careprep needs Python 3.10 (Rasa 3.6 supports nothing newer) and none was found." >&2; \
	  echo "Install it (for example: pyenv install 3.10) or run: make PYTHON=/path/to/python3.10 ..." >&2; \
	  exit 1; \
	fi; \
	if [ ! -x $(BIN)/python ] || ! $(BIN)/python -c 'import sys; assert sys.version_info[:2] == (3, 10)' 2>/dev/null; then \
	  rm -rf $(VENV); echo "Creating $(VENV) with $$python310"; "$$python310" -m venv $(VENV); \
	fi
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	@touch $(STAMP)

# The pages' styles (nhsuk-frontend) and the browser tests' accessibility checker (axe-core).
$(NODE_STAMP): package.json package-lock.json
	@command -v npm >/dev/null || { echo "careprep needs npm (Node 20) for the pages' styles." >&2; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error
	@touch $(NODE_STAMP)

install: $(STAMP) $(NODE_STAMP)

# The browser tests drive Debian's chromium through Playwright (which downloads nothing).
browser:
	@command -v chromium >/dev/null || { \
	  command -v apt-get >/dev/null || { echo "The browser tests need chromium on PATH; install it with your package manager." >&2; exit 1; }; \
	  sudo=""; [ "$$(id -u)" = 0 ] || sudo=sudo; \
	  echo "Installing chromium for the browser tests"; \
	  $$sudo apt-get update -qq && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# The scale-out set-up (make scale-up, tests/test_scale_out.py) runs Debian's nginx, unprivileged
# with its own configuration, and its own redis-server for Rasa's lock store.
nginx:
	@missing=""; \
	[ -x /usr/sbin/nginx ] || command -v nginx >/dev/null || missing=" nginx"; \
	[ -x /usr/bin/redis-server ] || command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	[ -z "$$missing" ] || { \
	  command -v apt-get >/dev/null || { echo "The scale-out set-up needs$$missing; install it with your package manager." >&2; exit 1; }; \
	  sudo=""; [ "$$(id -u)" = 0 ] || sudo=sudo; \
	  echo "Installing$$missing for the scale-out set-up"; \
	  $$sudo apt-get update -qq && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; }

migrate: install
	$(BIN)/careprep db upgrade

train: install
	$(BIN)/python -c "from bot.model import train_if_needed; print(train_if_needed())"

run: migrate train
	$(BIN)/careprep up

# DATABASE_URL must name a PostgreSQL database (careprep up --instances 2 refuses SQLite).
scale-up: install train nginx
	$(BIN)/careprep up --instances 2

validate: install
	$(BIN)/rasa data validate --domain domain.yml --data bot/data --config config.yml --fail-on-warnings

lint: install
	$(BIN)/ruff check careprep bot integrations web tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

test-stories: train
	rm -rf var/test-results
	$(BIN)/rasa test core --stories tests/stories --model "$$($(BIN)/python -c 'from bot.model import model_path; print(model_path())')" \
	  --out var/test-results --fail-on-prediction-errors

safety-report: train
	$(BIN)/python -m careprep.safety.evaluate --half heldout --by-file

test: lint validate train safety-report browser nginx
	$(BIN)/pytest
	$(MAKE) --no-print-directory test-stories

bench: train
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) models/*.tar.gz models/safety var/test-results .pytest_cache .mypy_cache .ruff_cache
