"""Alembic stairway: every revision upgrades, downgrades and upgrades again; the models
and the migrations describe the same schema."""

from __future__ import annotations

import asyncio
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine
from sqlalchemy.ext.asyncio import create_async_engine

from bot.db import migrate
from bot.db.models import Base, UTCDateTime
from bot.services.outbox.delivery_queue import BLOCKED_ERROR
from tests.conftest import scratch_postgres


def test_upgrade_downgrade_upgrade(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'stairs.db'}"
    migrate.upgrade(url)
    migrate.downgrade(url, "base")
    migrate.upgrade(url)
    engine = create_engine(f"sqlite:///{tmp_path / 'stairs.db'}")
    with engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == migrate.head_revision()


def test_models_match_migrations(sqlite_template: Path) -> None:
    engine = create_engine(f"sqlite:///{sqlite_template}")
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == [], diff


OLD_ROWS = {  # written as the app writes them, through the column types
    "outlets": [{"code": "main", "name": "Main"}],
    "customers": [
        {
            "id": 1,
            "name": "A",
            "name_key": "a",
            "language": "en",
            "card_code": "AAAA",
            "balance": 0,
            "payment_terms": "on_time",
            "marketing_opt_in": False,
            "created_at": datetime(2025, 1, 1, tzinfo=UTC),
        }
    ],
    "purchases": [
        {
            "id": 1,
            "customer_id": 1,
            "author_tg_id": 1,
            "outlet_code": "main",
            "amount": 100,
            "refunded_amount": 0,
            "points_earned": 0,
            "points_redeemed": 0,
            "created_at": datetime(2026, 1, 15, 21, 30, 59, 999999, tzinfo=UTC),
        }
    ],
}


def _run(url: str, statement: Any, many: list[dict[str, Any]] | None = None) -> Any:
    """One statement in its own transaction on a fresh engine (rows, or None for many)."""

    async def go() -> Any:
        engine = create_async_engine(url)
        try:
            async with engine.begin() as conn:
                result = await conn.execute(statement, many)
                return None if many is not None else result.all()
        finally:
            await engine.dispose()

    return asyncio.run(go())


def _old_table(name: str) -> sa.TableClause:
    types = {"created_at": UTCDateTime(), "marketing_opt_in": sa.Boolean()}
    return sa.table(name, *(sa.column(k, types.get(k)) for k in OLD_ROWS[name][0]))


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_migration_0004_backfills_created_ts(backend: str, tmp_path: Path) -> None:
    """Purchases written before 0004 get created_ts from created_at, the fraction of a
    second cut off (SQLite's strftime('%s') alone would round it up), as the model's
    column default computes it for new rows."""
    with ExitStack() as stack:
        if backend == "postgresql":
            url = stack.enter_context(scratch_postgres("loyalty_mig"))
        else:
            url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
        migrate.upgrade(url, "0003")

        for name, rows in OLD_ROWS.items():
            _run(url, sa.insert(_old_table(name)), rows)
        migrate.upgrade(url)
        rows = _run(url, sa.text("SELECT created_ts FROM purchases"))
    assert rows == [(int(datetime(2026, 1, 15, 21, 30, 59, tzinfo=UTC).timestamp()),)]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_migration_0005_strips_names_from_stored_results(backend: str, tmp_path: Path) -> None:
    """Exactly-once results stored before 0005 held names and phones; afterwards they hold
    ids and numbers only (SPEC.md, Rules: "hold ids and numbers, never personal data")."""
    table = sa.table(
        "processed_updates",
        sa.column("key", sa.String),
        sa.column("result", sa.JSON),
        sa.column("created_at", UTCDateTime()),
    )
    now = datetime(2026, 1, 15, tzinfo=UTC)
    old = [
        {
            "key": "u:1",
            "result": {"purchase_id": 1, "customer_name": "Ann", "points": 5},
            "created_at": now,
        },
        {
            "key": "u:2",
            "result": {"customer_id": 1, "name": "Ann", "phone": "+79161234567"},
            "created_at": now,
        },
        {"key": "expiry-warning:3", "result": {"customer_id": 1, "points": 7}, "created_at": now},
    ]
    with ExitStack() as stack:
        if backend == "postgresql":
            url = stack.enter_context(scratch_postgres("loyalty_mig"))
        else:
            url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
        migrate.upgrade(url, "0004")

        _run(url, sa.insert(table), old)
        migrate.upgrade(url)
        rows = _run(url, sa.select(table.c.key, table.c.result).order_by(table.c.key))
    assert [tuple(r) for r in rows] == [
        ("expiry-warning:3", {"customer_id": 1, "points": 7}),
        ("u:1", {"purchase_id": 1, "points": 5}),
        ("u:2", {"customer_id": 1}),
    ]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_migration_0016_marks_messages_refused_by_a_blocked_chat(
    backend: str, tmp_path: Path
) -> None:
    """403s stored before 0016 carry only Telegram's wording; afterwards they start with
    ``delivery_queue.BLOCKED_ERROR`` (what the campaign report counts as blocked), other
    failures are left as they were, and a downgrade takes the mark off again."""
    table = sa.table(
        "outbox",
        sa.column("id", sa.Integer),
        sa.column("chat_id", sa.BigInteger),
        sa.column("text", sa.Text),
        sa.column("state", sa.String),
        sa.column("attempts", sa.Integer),
        sa.column("last_error", sa.String),
        sa.column("created_at", UTCDateTime()),
    )
    forbidden = "Telegram server says - Forbidden: bot was blocked by the user"
    now = datetime(2026, 1, 15, tzinfo=UTC)
    old = [
        {"id": 1, "state": "failed", "last_error": forbidden},
        {"id": 2, "state": "failed", "last_error": "Telegram server says - Bad Request: x"},
        {"id": 3, "state": "sent", "last_error": None},
        {"id": 4, "state": "failed", "last_error": (forbidden + " " + "x" * 200)[:200]},
    ]
    rows = [{"chat_id": 1, "text": "t", "attempts": 1, "created_at": now} | r for r in old]
    select_errors = sa.select(table.c.id, table.c.last_error).order_by(table.c.id)
    with ExitStack() as stack:
        if backend == "postgresql":
            url = stack.enter_context(scratch_postgres("loyalty_mig"))
        else:
            url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
        migrate.upgrade(url, "0015")
        _run(url, sa.insert(table), rows)
        migrate.upgrade(url)
        upgraded = dict(_run(url, select_errors))
        migrate.downgrade(url, "0015")
        downgraded = dict(_run(url, select_errors))
    assert upgraded[1] == BLOCKED_ERROR + forbidden
    assert upgraded[2] == old[1]["last_error"] and upgraded[3] is None
    assert upgraded[4].startswith(BLOCKED_ERROR) and len(upgraded[4]) == 200  # the column's
    assert downgraded[1] == forbidden and downgraded[2] == old[1]["last_error"]


def test_file_names_are_the_revisions_in_one_line() -> None:
    """The start-up check reads the code's head from the file names (no Alembic import):
    each file is named after its revision, each revises the previous number, and the highest
    number is Alembic's own head."""
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(migrate.alembic_config("sqlite://"))
    names = sorted(p.name for p in (migrate.MIGRATIONS / "versions").glob("*.py"))
    by_file = {migrate.REVISION_FILE.match(name).group(1): name for name in names}  # type: ignore[union-attr]
    revisions = sorted(by_file)
    for previous, revision in zip([None, *revisions], revisions, strict=False):
        script = scripts.get_revision(revision)
        assert script is not None and script.path.endswith(by_file[revision])
        assert script.down_revision == previous, f"{revision} should revise {previous}"
    assert migrate.head_revision() == scripts.get_current_head() == revisions[-1]
