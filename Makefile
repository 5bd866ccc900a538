# Two commands do everything on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test install migrate demo lint bench bench-scale bench-full clean lock browser

# Exact versions (with hashes) from requirements.lock; the project itself without deps.
$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

# config.toml may hold the bot token: readable by its owner only.
config.toml:
	install -m 600 config.example.toml config.toml
	@echo "created config.toml from config.example.toml: edit it, and set BOT_TOKEN"

migrate: $(STAMP) config.toml
	$(BIN)/loyalty-bot migrate

run: migrate
	$(BIN)/loyalty-bot run

demo: $(STAMP)
	$(BIN)/loyalty-bot demo

# Debian's chromium for the Mini App's browser tests, where missing (no browser download).
browser:
	@command -v chromium >/dev/null 2>&1 || { export DEBIAN_FRONTEND=noninteractive; \
		apt-get update -qq && apt-get install -y -qq chromium >/dev/null; } \
		|| echo "chromium could not be installed: the browser tests will be skipped"

test: $(STAMP) browser
	$(BIN)/ruff check bot handlers scoring tests bench
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/pip install --quiet -e ".[dev,bench]"
	$(BIN)/python -m bench.purchase
	$(BIN)/python -m bench.scoring --customers 100000 --purchases 1000000

bench-scale: $(STAMP)
	$(BIN)/pip install --quiet -e ".[dev,bench]"
	$(BIN)/python -m bench.polling
	$(BIN)/python -m bench.load

bench-full: $(STAMP)
	$(BIN)/pip install --quiet -e ".[dev,bench]"
	$(BIN)/python -m bench.scoring --backend both

# Re-pin requirements.lock after changing the ranges in pyproject.toml.
lock: $(STAMP)
	$(BIN)/pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 --generate-hashes \
		--quiet -o requirements.lock

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
