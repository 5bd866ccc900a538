"""`loyalty-bot`: run, migrate, demo. Problems are one readable line, not a traceback."""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer

from bot.config import DEFAULT_CONFIG_PATH, ConfigError, Settings, load_settings
from bot.logs import setup_logging

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)

ConfigOption = typer.Option(DEFAULT_CONFIG_PATH, "--config", "-c", help="TOML config file")


def _fail(message: str) -> None:
    typer.echo(f"loyalty-bot: {message}", err=True)
    raise typer.Exit(code=2)


def _settings(path: Path) -> Settings:
    try:
        return load_settings(path)
    except ConfigError as err:
        _fail(f"config error: {err}")
        raise  # unreachable: _fail exits


@app.command()
def migrate(config: Path = ConfigOption) -> None:
    """Apply database migrations."""
    from bot.db.migrate import upgrade

    settings = _settings(config)
    upgrade(settings.database.url)
    typer.echo(f"database is up to date: {settings.database.url.split('@')[-1]}")


@app.command()
def run(config: Path = ConfigOption, log_level: str = "INFO") -> None:
    """Start the bot (long polling) and the outbox sender."""
    from bot.app import run_polling
    from bot.db.migrate import SchemaNotCurrentError

    settings = _settings(config)
    if not settings.bot_token:
        _fail(f"no bot token: set BOT_TOKEN in the environment or bot_token in {config}")
    setup_logging(log_level, settings.secrets())
    try:
        asyncio.run(run_polling(settings))
    except SchemaNotCurrentError as err:
        _fail(str(err))
    except KeyboardInterrupt:
        pass


@app.command()
def score(config: Path = ConfigOption) -> None:
    """Reclassify every customer now (RFM, stage, value, lifetime value), with progress."""
    from bot.app import build_business
    from bot.db.migrate import SchemaNotCurrentError, check_schema
    from bot.services.scoring_job import ScoringBusyError, reclassify

    settings = _settings(config)

    async def main() -> None:
        biz = build_business(settings)
        try:
            await check_schema(biz.db)
            with typer.progressbar(length=1, label="scoring customers") as bar:
                shown = 0

                async def report(done: int, total: int) -> None:
                    nonlocal shown
                    bar.length = total
                    bar.update(done - shown)
                    shown = done

                summary = await reclassify(biz, report)
        finally:
            await biz.db.dispose()
        typer.echo(
            f"scored {summary.customers} customers ({summary.with_purchases} with purchases, "
            f"{summary.repeat_buyers} repeat buyers); lifetime value by {summary.clv_method}"
        )

    try:
        asyncio.run(main())
    except (SchemaNotCurrentError, ScoringBusyError) as err:
        _fail(str(err))


@app.command()
def demo() -> None:
    """An offline walkthrough: no token, no network; prints the chat transcript."""
    from bot.demo import run_demo

    for line in asyncio.run(run_demo()):
        typer.echo(line)


if __name__ == "__main__":
    app()
