"""`loyalty-bot`: run, webhook, migrate, score, export, import, demo; problems are one line,
not a traceback.

Size: one function per command, each importing what it needs when it runs (so `run`
reaches aiogram without the others' imports); the operator's whole surface in one table."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import typer

from bot.config import (
    DEFAULT_CONFIG_PATH,
    DEFAULT_LOCALE,
    ConfigError,
    Settings,
    load_settings,
    salt,
)
from bot.logs import setup_logging

if TYPE_CHECKING:
    from bot.services.context import Business, Progress

T = TypeVar("T")

app = typer.Typer(add_completion=False, no_args_is_help=True, help=(__doc__ or "").split("\n\n")[0])

ConfigOption = typer.Option(DEFAULT_CONFIG_PATH, "--config", "-c", help="TOML config file")


def _fail(message: str) -> None:
    typer.echo(f"loyalty-bot: {message}", err=True)
    raise typer.Exit(code=2)


def _settings(path: Path, *, secret_salt: bool = False) -> Settings:
    """The config; ``secret_salt``: refuse a public ``privacy.id_hash_salt``, for what
    writes hashes (``bot.config.salt``; the first start writes a random one)."""
    try:
        settings = salt.settled(path, load_settings)
    except ConfigError as err:
        _fail(f"config error: {err}")
        raise  # unreachable: _fail exits
    if secret_salt and (problem := salt.refusal(settings.privacy.id_hash_salt)):
        _fail(problem)
    return settings


@app.command()
def migrate(config: Path = ConfigOption) -> None:
    """Apply database migrations."""
    from bot.db.engine import DatabaseProblem
    from bot.db.migrate import upgrade, where

    settings = _settings(config)
    try:
        before, after = upgrade(settings.database.url)
    except DatabaseProblem as err:
        _fail(str(err))
        return
    place = where(settings.database.url)
    if before is None:
        typer.echo(f"created the database {place}: every table, schema {after}")
    elif before != after:
        typer.echo(f"migrated the database {place} from {before} to {after}")
    else:
        typer.echo(f"database {place} is up to date (schema {after}): nothing to do")


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
    settings = _settings(config, secret_salt=True)  # before importing aiogram: a typo answers
    if not settings.bot_token:
        _fail(f"no bot token: set BOT_TOKEN in the environment or bot_token in {config}")
    from bot.app import StartupError
    from bot.app import run as run_bot
    from bot.db.engine import DatabaseProblem

    setup_logging(log_level.upper(), settings.secrets())
    try:
        asyncio.run(run_bot(settings, webhook=webhook, role=role))
    except (DatabaseProblem, StartupError, ValueError) as err:
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
    held = _bot_holding(settings.database.url)
    if held:
        _fail(f"a bot is running on this database ({held}): stop the bot first, then restore")
    if not yes and not typer.confirm(
        f"Replace everything in the database with {source}? This cannot be undone."
    ):
        _fail("nothing restored")
    try:
        restore(settings.database.url, source)
    except BackupError as err:
        _fail(str(err))
    typer.echo(f"restored from {source}; run `loyalty-bot migrate` if the backup is older")


def _bot_holding(url: str) -> str | None:
    """Which bot process holds the database (its worker lease or poller lock), if any."""
    from sqlalchemy.ext.asyncio import create_async_engine

    from bot.db.engine import DatabaseProblem
    from bot.db.migrate import reaching
    from bot.lease import bot_holding

    async def ask() -> str | None:
        engine = create_async_engine(url)
        try:
            with reaching(url):
                return await bot_holding(engine)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(ask())
    except DatabaseProblem as err:
        _fail(str(err))
        raise  # unreachable: _fail exits


@app.command("owner-code")
def owner_code(config: Path = ConfigOption) -> None:
    """Issue a one-time owner code (an unclaimed earlier one stops working): whoever sends
    /start own_<code> to the bot becomes an owner."""
    from bot.app import build_business
    from bot.db.engine import DatabaseProblem
    from bot.db.migrate import check_schema
    from bot.services.people.owners import issue_code, owner_ids
    from handlers.deep_links import OWNER_CODE_PREFIX

    settings = _settings(config)

    async def main() -> str | None:
        biz = build_business(settings)
        try:
            await check_schema(biz.db)
            if await owner_ids(biz):  # the bot would refuse a code now: say what works
                return None
            return await issue_code(biz)
        finally:
            await biz.db.dispose()

    try:
        code = asyncio.run(main())
    except DatabaseProblem as err:
        _fail(str(err))
    if code is None:
        _fail("the bot has an owner already: an owner sends /invite owner for a co-owner's link")
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


def _count(n: int, noun: str) -> str:  # «1 customer», «2 customers»: the CLI's English
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


@contextmanager
def _progress(label: str) -> Iterator[Progress]:
    """A progress bar on stderr (stdout stays the command's answer) fed by (done, total)."""
    with typer.progressbar(length=1, label=label, file=sys.stderr) as bar:
        shown = 0

        async def report(done: int, total: int) -> None:
            nonlocal shown
            bar.length = max(total, 1)
            bar.update(done - shown)
            shown = done

        yield report


def _with_business(settings: Settings, work: Callable[[Business], Awaitable[T]]) -> T:
    """Run ``work`` against the database (schema checked first), then close it."""
    from bot.app import build_business
    from bot.db.engine import DatabaseProblem
    from bot.db.migrate import check_schema

    async def main() -> T:
        biz = build_business(settings)
        try:
            await check_schema(biz.db)
            return await work(biz)
        finally:
            await biz.db.dispose()

    try:
        return asyncio.run(main())
    except DatabaseProblem as err:
        _fail(str(err))
        raise  # unreachable: _fail exits


@app.command()
def score(config: Path = ConfigOption) -> None:
    """Reclassify every customer now (RFM, stage, value, lifetime value), with progress."""
    from bot.services.insight.scoring_job import ScoringBusyError, reclassify

    settings = _settings(config)

    async def work(biz: Business) -> str:
        with _progress("scoring customers") as report:
            summary = await reclassify(biz, report)
        count = biz.texts.count
        return (
            f"scored {count('en', summary.customers, 'customer')} "
            f"({summary.with_purchases} with purchases, "
            f"{count('en', summary.repeat_buyers, 'repeat_buyer')}); "
            f"lifetime value by {summary.clv_method}"
        )

    try:
        typer.echo(_with_business(settings, work))
    except ScoringBusyError as err:
        _fail(str(err))


ExportFormatOption = typer.Option("csv", "--format", "-f", help="csv or xlsx")
ExportOutOption = typer.Option(
    None, "--out", "-o", help="file to write (default: customers-<date>.<format>)"
)
# Customers' personal data: the written file is readable by its owner only.
PRIVATE_FILE_MODE = 0o600


def _write_private(target: Path, data: bytes) -> None:
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE_MODE)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    target.chmod(PRIVATE_FILE_MODE)  # an existing file keeps its mode through os.open


@app.command("export")
def export_command(
    config: Path = ConfigOption,
    fmt: str = ExportFormatOption,
    out: Path | None = ExportOutOption,
) -> None:
    """Every customer with balance, tier, profile fields and scores, as CSV or XLSX; those
    who used /forget appear without personal data. The file is readable by you only."""
    from datetime import datetime

    from bot import spreadsheet
    from bot.services.members.customer_export import customer_table

    if fmt not in spreadsheet.FORMATS:
        _fail(f"--format {fmt!r}: use {' or '.join(spreadsheet.FORMATS)}")
    settings = _settings(config)

    async def work(biz: Business) -> spreadsheet.Table:
        with _progress("reading customers") as report:
            return await customer_table(biz, report)

    table = _with_business(settings, work)
    target = out or Path(f"customers-{datetime.now():%Y%m%d-%H%M%S}.{fmt}")
    try:
        _write_private(target, spreadsheet.write(table, fmt))
    except OSError as err:
        _fail(f"cannot write {target}: {err.strerror}")
    typer.echo(f"exported {_count(len(table.rows), 'customer')} to {target}")


PreviewCustomer = typer.Option(..., "--customer", help="the customer's card code")


@app.command()
def preview(job: str, customer: str = PreviewCustomer, config: Path = ConfigOption) -> None:
    """Show what a customer would get today from a scheduled job (birthday, holidays,
    reminders, tradein, winback); nothing is written or sent."""
    from bot.app import build_business
    from bot.db.engine import DatabaseProblem
    from bot.db.migrate import check_schema
    from bot.services.errors import ServiceError
    from bot.services.jobs.preview import describe
    from bot.services.jobs.preview import preview as render

    settings = _settings(config)

    async def main() -> None:
        biz = build_business(settings)
        try:
            await check_schema(biz.db)
            shown = await render(biz, job, customer)
        finally:
            await biz.db.dispose()
        for item in shown:
            typer.echo(describe(item))

    try:
        asyncio.run(main())
    except (DatabaseProblem, ValueError) as err:
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


from bot import cli_customers, cli_rules  # noqa: E402, F401  (register import, rekey, rules)

if __name__ == "__main__":  # `python -m bot.cli`: the module the commands registered on
    from bot.cli import app as registered

    registered()
