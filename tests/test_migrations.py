"""Alembic stairway: every revision upgrades, downgrades and upgrades again; the models
and the migrations describe the same schema."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from bot.db import migrate
from bot.db.models import Base
from tests.conftest import POSTGRES_URL


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


def test_postgres_migration_backfills_created_ts() -> None:
    """0004 on PostgreSQL: purchases written before it get created_ts from created_at,
    the fraction of a second cut off, as the model's column default computes it."""
    if not POSTGRES_URL:
        pytest.skip("PostgreSQL tests need LOYALTY_TEST_POSTGRES_URL (set by .ci/run)")
    import asyncpg

    admin = make_url(POSTGRES_URL).set(drivername="postgresql")
    name = f"loyalty_mig_{uuid.uuid4().hex[:10]}"
    dsn = admin.set(database=name).render_as_string(hide_password=False)

    async def run(target: str, sql: str) -> Any:
        con = await asyncpg.connect(target)
        try:
            return await con.fetchval(sql) if sql.startswith("SELECT") else await con.execute(sql)
        finally:
            await con.close()

    asyncio.run(run(admin.render_as_string(hide_password=False), f'CREATE DATABASE "{name}"'))
    try:
        url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
        migrate.upgrade(url, "0003")
        asyncio.run(
            run(
                dsn,
                "INSERT INTO outlets (code, name) VALUES ('main', 'Main');"
                "INSERT INTO customers (id, name, name_key, language, card_code, balance,"
                " payment_terms, created_at, marketing_opt_in) VALUES (1, 'A', 'a', 'en',"
                " 'AAAA', 0, 'on_time', '2025-01-01 00:00:00+00', false);"
                "INSERT INTO purchases (id, customer_id, author_tg_id, outlet_code, amount,"
                " refunded_amount, points_earned, points_redeemed, created_at) VALUES"
                " (1, 1, 1, 'main', 100, 0, 0, 0, '2026-01-15 21:30:59.999999+00');",
            )
        )
        migrate.upgrade(url)
        ts = asyncio.run(run(dsn, "SELECT created_ts FROM purchases"))
        assert ts == int(datetime(2026, 1, 15, 21, 30, 59, tzinfo=UTC).timestamp())
    finally:
        asyncio.run(
            run(
                admin.render_as_string(hide_password=False),
                f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
            )
        )
