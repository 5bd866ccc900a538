# Two commands do everything on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test install migrate demo lint bench bench-full clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
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

test: $(STAMP)
	$(BIN)/ruff check bot handlers scoring tests bench
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/pip install --quiet -e ".[dev,bench]"
	$(BIN)/python -m bench.purchase
	$(BIN)/python -m bench.scoring --customers 100000 --purchases 1000000

bench-full: $(STAMP)
	$(BIN)/pip install --quiet -e ".[dev,bench]"
	$(BIN)/python -m bench.scoring --backend both

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
