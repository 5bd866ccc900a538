"""`loyalty-bot`: run, webhook, migrate, score, demo; problems are one line, not a traceback."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import typer

from bot.config import DEFAULT_CONFIG_PATH, DEFAULT_LOCALE, ConfigError, Settings, load_settings
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
def run(
    config: Path = ConfigOption,
    log_level: str = "INFO",
    webhook: bool = typer.Option(False, "--webhook", help="take updates by webhook, not polling"),
    role: str = typer.Option(
        "all", "--role", help="all | web (updates only) | worker (scheduler and sender only)"
    ),
) -> None:
    """Start the bot: updates (long polling or webhook) and/or the worker (scheduler and
    outbox sender, one active process at a time)."""
    if not isinstance(logging.getLevelName(log_level.upper()), int):
        _fail(f"--log-level {log_level!r}: use DEBUG, INFO, WARNING or ERROR")
    settings = _settings(config)  # before importing aiogram: a typo answers at once
    if not settings.bot_token:
        _fail(f"no bot token: set BOT_TOKEN in the environment or bot_token in {config}")
    from bot.app import StartupError
    from bot.app import run as run_bot
    from bot.db.migrate import SchemaNotCurrentError

    setup_logging(log_level.upper(), settings.secrets())
    try:
        asyncio.run(run_bot(settings, webhook=webhook, role=role))
    except (SchemaNotCurrentError, StartupError, ValueError) as err:
        _fail(str(err))
    except KeyboardInterrupt:
        pass


BackupToOption = typer.Option(None, "--to", help="file to write (default: a dated name)")
BackupFileArgument = typer.Argument(..., help="a file `loyalty-bot backup` wrote")


@app.command("backup")
def backup_command(
    config: Path = ConfigOption,
    to: Path | None = BackupToOption,
) -> None:
    """A consistent copy of the database, taken while the bot runs (owner-only file)."""
    from datetime import UTC, datetime

    from bot.backup import BackupError, backup

    settings = _settings(config)
    target = to or Path(f"loyalty-{datetime.now(UTC):%Y%m%d-%H%M%S}.backup")
    try:
        backup(settings.database.url, target)
    except BackupError as err:
        _fail(str(err))
    typer.echo(f"backup written: {target}")


@app.command("restore")
def restore_command(
    source: Path = BackupFileArgument,
    config: Path = ConfigOption,
    yes: bool = typer.Option(False, "--yes", help="do not ask for confirmation"),
) -> None:
    """Replace the database with a backup (stop the bot first). Asks before it does."""
    from bot.backup import BackupError, restore

    settings = _settings(config)
    if not yes and not typer.confirm(
        f"Replace everything in the database with {source}? This cannot be undone."
    ):
        _fail("nothing restored")
    try:
        restore(settings.database.url, source)
    except BackupError as err:
        _fail(str(err))
    typer.echo(f"restored from {source}; run `loyalty-bot migrate` if the backup is older")


@app.command("owner-code")
def owner_code(config: Path = ConfigOption) -> None:
    """Issue a one-time owner code (an unclaimed earlier one stops working): whoever sends
    /start own_<code> to the bot becomes an owner."""
    from bot.app import build_business
    from bot.db.migrate import SchemaNotCurrentError, check_schema
    from bot.services.owners import issue_code
    from handlers.deep_links import OWNER_CODE_PREFIX

    settings = _settings(config)

    async def main() -> str:
        biz = build_business(settings)
        try:
            await check_schema(biz.db)
            return await issue_code(biz)
        finally:
            await biz.db.dispose()

    try:
        code = asyncio.run(main())
    except SchemaNotCurrentError as err:
        _fail(str(err))
    typer.echo(f"Send this to the bot to become its owner (once): /start {OWNER_CODE_PREFIX}{code}")


@app.command("webhook")
def webhook_command(
    action: str = typer.Argument(..., help="set | info | delete"),
    config: Path = ConfigOption,
) -> None:
    """Point Telegram at this deployment's webhook (once, from a deploy step), show it, or
    remove it (to go back to polling)."""
    from bot.app import build_bot, webhook_action

    settings = _settings(config)
    if not settings.bot_token:
        _fail(f"no bot token: set BOT_TOKEN in the environment or bot_token in {config}")
    try:
        for line in asyncio.run(webhook_action(settings, build_bot(settings), action)):
            typer.echo(line)
    except ValueError as err:
        _fail(str(err))


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
        count = biz.texts.count
        typer.echo(
            f"scored {count('en', summary.customers, 'customer')} "
            f"({summary.with_purchases} with purchases, "
            f"{count('en', summary.repeat_buyers, 'repeat_buyer')}); "
            f"lifetime value by {summary.clv_method}"
        )

    try:
        asyncio.run(main())
    except (SchemaNotCurrentError, ScoringBusyError) as err:
        _fail(str(err))


PreviewCustomer = typer.Option(..., "--customer", help="the customer's card code")


@app.command()
def preview(job: str, customer: str = PreviewCustomer, config: Path = ConfigOption) -> None:
    """Show what a customer would get today from a scheduled job (birthday, holidays,
    reminders, tradein, winback); nothing is written or sent."""
    from bot.app import build_business
    from bot.db.migrate import SchemaNotCurrentError, check_schema
    from bot.services.errors import ServiceError
    from bot.services.jobs_preview import preview as render

    settings = _settings(config)

    async def main() -> None:
        biz = build_business(settings)
        try:
            await check_schema(biz.db)
            shown = await render(biz, job, customer)
        finally:
            await biz.db.dispose()
        for item in shown:
            if item.text is None:
                typer.echo(f"{item.job}: nothing today")
                continue
            picked = "selected today" if item.selected else "not selected today"
            typer.echo(f"{item.job}: {picked}; contact: {item.verdict}\n{item.text}\n")

    try:
        asyncio.run(main())
    except (SchemaNotCurrentError, ValueError) as err:
        _fail(str(err))
    except ServiceError as err:
        _fail(f"{err.code}: {err.params.get('token', '')}")


DemoLanguage = typer.Option(DEFAULT_LOCALE, "--lang", help="ru or en")


@app.command()
def demo(lang: str = DemoLanguage) -> None:
    """An offline walkthrough: no token, no network; prints the chat transcript."""
    from bot.config import SUPPORTED_LOCALES
    from bot.demo import run_demo

    if lang not in SUPPORTED_LOCALES:
        _fail(f"--lang {lang!r}: use {' or '.join(SUPPORTED_LOCALES)}")
    for line in asyncio.run(run_demo(lang)):
        typer.echo(line)


if __name__ == "__main__":
    app()
