"""``loyalty-bot backup`` and ``restore``: a consistent copy of the database while the bot
runs, and putting one back.

SQLite: the online backup API (a consistent snapshot even while the bot writes; WAL
included). PostgreSQL: ``pg_dump --format=custom`` and ``pg_restore --clean``. Backups
hold customers' personal data, so the file is created readable by its owner only.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
from contextlib import closing
from pathlib import Path

from sqlalchemy.engine import make_url

from bot.db.engine import SQLITE_FILE_MODE, ensure_sqlite_file
from bot.db.migrate import known_revisions

SQLITE_MAGIC = b"SQLite format 3\x00"
PG_DUMP_MAGIC = b"PGDMP"


class BackupError(Exception):
    """A backup or restore that did not happen, phrased for the operator."""


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """The URL pg_dump understands (no driver name, no password: that goes in PGPASSWORD,
    so it never shows in the process list) and the environment to run it with."""
    parsed = make_url(url).set(drivername="postgresql")
    env = dict(os.environ)
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    return parsed.set(password=None).render_as_string(hide_password=False), env


def _owner_only(path: Path) -> None:
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, SQLITE_FILE_MODE))
    os.chmod(path, SQLITE_FILE_MODE)


def _sqlite_copy(source: Path, target: Path) -> None:
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)


def backup(url: str, target: Path) -> Path:
    """Write a backup of the database at ``url`` to ``target``: into a temporary file
    first, renamed only when complete, so a failed backup leaves nothing behind."""
    parsed = make_url(url)
    sqlite = parsed.get_backend_name() == "sqlite"
    if sqlite:
        if not parsed.database or not Path(parsed.database).exists():
            raise BackupError(f"no SQLite database at {parsed.database!r}")
        if target.exists() and target.resolve() == Path(parsed.database).resolve():
            raise BackupError(f"{target} is the database itself: choose another file")
    partial = target.with_name(target.name + ".partial")
    _owner_only(partial)
    try:
        if sqlite:
            _sqlite_copy(Path(str(parsed.database)), partial)
        else:
            libpq, env = _libpq(url)
            _run(["pg_dump", "--format=custom", f"--file={partial}", libpq], env)
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    return target


def _check_backup(source: Path, sqlite: bool) -> None:
    """Refuse what `loyalty-bot backup` did not write: an empty or foreign file would
    otherwise replace the database with nothing; nor a damaged SQLite file, or one whose
    schema this code does not know."""
    if not source.exists():
        raise BackupError(f"no backup at {source}")
    with source.open("rb") as head:
        magic = head.read(16)
    expected = SQLITE_MAGIC if sqlite else PG_DUMP_MAGIC
    if not magic.startswith(expected):
        raise BackupError(f"{source} is not a backup of this kind of database")
    if sqlite:
        try:
            _check_sqlite_backup(source)
        except sqlite3.DatabaseError as err:
            raise BackupError(f"{source} is damaged ({err}): nothing restored") from None


def _check_sqlite_backup(source: Path) -> None:
    """The whole file read once (``PRAGMA integrity_check``) and its schema revision one of
    the code's migrations, before the live database is touched."""
    with closing(sqlite3.connect(f"file:{source}?mode=ro", uri=True)) as conn:
        found = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'"
        ).fetchone()
        if found is None:
            raise BackupError(f"{source} is not a loyalty-bot database")
        problems = [row[0] for row in conn.execute("PRAGMA integrity_check(5)")]
        revision = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    if problems != ["ok"]:
        first = " ".join(problems[0].split())  # integrity_check's rows span lines
        raise BackupError(f"{source} is damaged ({first}): nothing restored")
    if revision is None or revision[0] not in known_revisions():
        found_at = revision[0] if revision else "nothing"
        raise BackupError(
            f"{source} has schema {found_at}, which this version does not know: "
            "restore it with the version of loyalty-bot that wrote it"
        )


def restore(url: str, source: Path) -> None:
    """Replace the database at ``url`` with the backup ``source`` (stop the bot first)."""
    parsed = make_url(url)
    _check_backup(source, parsed.get_backend_name() == "sqlite")
    if parsed.get_backend_name() == "sqlite":
        ensure_sqlite_file(url)
        try:
            _sqlite_copy(source, Path(str(parsed.database)))
        except sqlite3.Error as err:  # e.g. locked by a running bot: the copy rolled back
            raise BackupError(f"could not restore ({err}): stop the bot and try again") from None
        return
    libpq, env = _libpq(url)
    _run(
        ["pg_restore", "--clean", "--if-exists", "--no-owner", "--single-transaction",
         f"--dbname={libpq}", str(source)],
        env,
    )  # fmt: skip


def _run(command: list[str], env: dict[str, str]) -> None:
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    except FileNotFoundError:
        raise BackupError(f"{command[0]} is not installed (PostgreSQL client tools)") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["failed"])[-1]
        raise BackupError(f"{command[0]}: {last}")
