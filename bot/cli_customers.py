"""`loyalty-bot import` (an existing customer base from a spreadsheet) and `loyalty-bot
rekey` (replace a public ``privacy.id_hash_salt`` with a secret one and re-key the
database: ``bot.config.salt``, ``bot.services.members.rekey``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from bot.cli import ConfigOption, _count, _fail, _progress, _settings, _with_business, app
from bot.config import salt

if TYPE_CHECKING:
    from bot.services.context import Business
    from bot.services.members.customer_import import ImportReport
    from bot.services.members.rekey import Rekeyed

OldSaltOption = typer.Option(
    "loyalty-bot", "--old-salt", help="the salt the database was keyed with"
)
DropOption = typer.Option(
    False, "--drop-erased", help="also drop the keys of erased customers (see docs)"
)


@app.command()
def rekey(config: Path = ConfigOption, old_salt: str = OldSaltOption,
          drop_erased: bool = DropOption) -> None:  # fmt: skip
    """Re-key the hashes kept after /forget from --old-salt to the configured salt; a
    public or missing one is first replaced by a random salt written into the config."""
    from bot.services.members.rekey import rekey as run_rekey

    settings = _settings(config)
    current = settings.privacy.id_hash_salt
    new = current
    if salt.is_public(current):
        if os.environ.get(salt.ENV_NAME):
            _fail(f"set {salt.ENV_NAME} to a new random string, then run rekey again")
        old_salt, new = current or old_salt, salt.new_salt()
        salt.write_salt(config, new)  # first: a failure below is retried with --old-salt
    if old_salt == new:
        _fail("--old-salt is the configured salt: nothing to re-key")

    async def work(biz: Business) -> Rekeyed:
        return await run_rekey(biz, old_salt, new, drop=drop_erased)

    done = _with_business(settings, work)
    typer.echo(
        f"re-keyed {done.opening_keys} opening balances and {done.identities} forgotten "
        f"ids; {done.left} erased customers' opening keys still use the old salt"
        + (f"; dropped {done.dropped} keys" if drop_erased else " (--drop-erased drops them)")
    )


ImportFileArgument = typer.Argument(..., help="a .csv or .xlsx file, a header row first")
ApplyOption = typer.Option(False, "--apply", help="write (without it: a dry run, a report)")
# Exit status when the file has problems (2 is for usage and configuration errors).
IMPORT_PROBLEMS_EXIT = 1


def _cell(column: str | None, value: str | None) -> str:
    """Where a problem is: the column as the file names it and the cell's text."""
    return f", column «{column}» «{value or ''}»" if column else ""


def _columns_line(columns: list[tuple[str, str]]) -> str:
    read = [f"{header} → {code}" if header != code else code for header, code in columns if code]
    skipped = [header for header, code in columns if not code]
    line = f"columns: {', '.join(read) or 'none'}"
    return f"{line}; read past (the bot's own figures): {', '.join(skipped)}" if skipped else line


@app.command("import")
def import_command(
    source: Path = ImportFileArgument,
    config: Path = ConfigOption,
    apply: bool = ApplyOption,
) -> None:
    """Bring an existing customer base from a spreadsheet: columns phone, name, birthday,
    balance and the config's profile fields. A dry run by default; --apply writes, all
    or nothing; a phone already imported changes nothing. Imported customers find their
    balance when they join in the bot with the same phone."""
    from bot import spreadsheet
    from bot.config import SUPPORTED_LOCALES as LOCALES
    from bot.services.errors import ServiceError
    from bot.services.members.customer_import import run_import
    from bot.services.members.import_columns import CORE_COLUMNS

    fmt = spreadsheet.format_of(source)
    if fmt is None:
        _fail(f"{source}: use a .csv or .xlsx file")
        return
    settings = _settings(config, secret_salt=True)
    try:
        table = spreadsheet.read(source.read_bytes(), fmt)
    except OSError as err:
        _fail(f"cannot read {source}: {err.strerror}")
        return
    except spreadsheet.SpreadsheetError as err:
        _fail(f"{source}: {err}")
        return

    async def work(biz: Business) -> tuple[ImportReport, list[str]]:
        labels = {
            code: [biz.texts.plain(locale, f"owner.import_column_{code}") for locale in LOCALES]
            for code in CORE_COLUMNS
        }
        with _progress("checking customers" if not apply else "importing customers") as report:
            try:
                result = await run_import(
                    biz, table, apply=apply, progress=report, labels=labels
                )
            except ServiceError as err:  # one line, e.g. a concurrent import
                _fail(biz.texts.console("en", f"errors.{err.code}", **err.params))
                raise
        lines = [
            f"row {p.row}{_cell(p.column, p.value)}: "
            f"{biz.texts.console('en', f'errors.{p.code}', **p.params)}"
            for p in result.problems
        ]
        return result, lines

    result, problems = _with_business(settings, work)
    _report_import(result, problems)


def _report_import(result: ImportReport, problems: list[str]) -> None:
    """The import's outcome on the terminal: the columns read, then the problems (exit 1,
    nothing written) or the summary."""
    typer.echo(_columns_line(result.columns))
    if problems:
        for line in problems:
            typer.echo(line, err=True)
        typer.echo(
            f"loyalty-bot: {len(problems)} problem(s) in {result.rows} rows: nothing imported",
            err=True,
        )
        raise typer.Exit(code=IMPORT_PROBLEMS_EXIT)
    summary = (
        f"{_count(result.rows, 'row')}: {_count(result.created, 'new customer')}, opening "
        f"balances for {_count(result.credited, 'customer')} already here, "
        f"{result.unchanged} unchanged; {_count(result.points, 'point')} in all"
    )
    if result.applied:
        typer.echo(f"imported {summary}")
    else:
        typer.echo(f"dry run, nothing written: {summary}. Run again with --apply to import.")
