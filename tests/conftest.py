"""Shared fixtures: a real database (SQLite file per test, PostgreSQL in CI), the real
dispatcher, and the recording Bot API double.

Migrations run once per session: a migrated SQLite template is copied for each test; the
PostgreSQL database is created fresh per session, migrated once, truncated between tests
and dropped at the end.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from bot.clock import FrozenClock
from bot.config import Settings, settings_from_dict
from bot.db import migrate
from bot.db.engine import Database, create_database
from bot.db.models import Base
from tests.support.harness import OWNER_ID, App

POSTGRES_URL = os.environ.get("LOYALTY_TEST_POSTGRES_URL")
BACKENDS = ["sqlite", "postgresql"]


def base_config(db_url: str, **sections: dict[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = {
        "business": {
            "name": "Test Garage",
            "owner_ids": [OWNER_ID],
            "timezone": "Europe/Moscow",
            "outlets": [{"code": "main", "name": "Main"}, {"code": "north", "name": "North"}],
        },
        "loyalty": {
            "service_tags": ["oil", "tyres", "wash"],
            "earn_percent": "5",
            "point_value": "1",
            "max_purchase_amount": "1000000",
        },
        "database": {"url": db_url},
        # Tests pace nothing unless they test pacing (tests/test_delivery*.py): a chat
        # getting three notices would otherwise wait two real seconds.
        "outbox": {"rate_per_second": 1000, "per_chat_per_second": 1000},
    }
    for name, values in sections.items():
        config[name] = {**config.get(name, {}), **values}
    return config


def make_settings(db_url: str, **sections: dict[str, Any]) -> Settings:
    return settings_from_dict(base_config(db_url, **sections), use_env=False)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    migrate.upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@contextmanager
def scratch_postgres(prefix: str) -> Iterator[str]:
    """A new empty PostgreSQL database (its URL), dropped afterwards; skips without one."""
    if not POSTGRES_URL:
        pytest.skip("PostgreSQL tests need LOYALTY_TEST_POSTGRES_URL (set by .ci/run)")
    import asyncio

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin_url = make_url(POSTGRES_URL)

    async def admin(sql: str) -> None:
        engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
        async with engine.connect() as conn:
            await conn.execute(text(sql))
        await engine.dispose()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def postgres_session_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, migrated once, dropped after."""
    with scratch_postgres("loyalty_test") as url:
        migrate.upgrade(url)
        yield url


@pytest.fixture(params=["sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    """Overridden with ``@pytest.mark.parametrize("backend", BACKENDS, indirect=True)``."""
    return str(request.param)


@pytest.fixture
def db_url(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path
) -> str:
    if backend == "postgresql":
        return str(request.getfixturevalue("postgres_session_url"))
    path = tmp_path / "loyalty.db"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite+aiosqlite:///{path}"


async def truncate_all(db: Database) -> None:
    tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
    async with db.engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture
async def database(db_url: str) -> AsyncIterator[Database]:
    db = create_database(db_url)
    if db.engine.dialect.name == "postgresql":
        await truncate_all(db)
    yield db
    await db.dispose()


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def settings(db_url: str) -> Settings:
    return make_settings(db_url)


@pytest.fixture
async def app(settings: Settings, database: Database, clock: FrozenClock) -> AsyncIterator[App]:
    harness = await App.start(settings, database, clock)
    yield harness
    await harness.close()
