"""What the benchmarks share: the machine they ran on, and a scratch PostgreSQL database
(created next to the server's URL, migrated, dropped afterwards)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

from sqlalchemy import make_url, text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import create_async_engine

from bot.db.migrate import upgrade


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo; the platform's word for it elsewhere."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown CPU"


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def machine(*, with_load: bool = True) -> str:
    """One line for a results file: cores, CPU, Python and (``with_load``) the load."""
    line = f"nproc {os.cpu_count()}, {cpu_model()}, Python {platform.python_version()}"
    return f"{line}, load {load_average()}" if with_load else line


async def _admin(admin: URL, sql: str) -> str:
    """Run one statement on the server outside a transaction; a SELECT's value."""
    engine = create_async_engine(admin, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            result = await conn.execute(text(sql))
            return str(result.scalar()) if sql.startswith("SELECT") else ""
    finally:
        await engine.dispose()


async def server_version(admin: str) -> str:
    """The server's version; raises when it cannot be reached (within 10 s)."""
    query = "SELECT current_setting('server_version')"
    return await asyncio.wait_for(_admin(make_url(admin), query), timeout=10)


async def _create(admin: str, prefix: str) -> tuple[URL, str]:
    """A new empty database named ``prefix`` and a random suffix; its URL as a string."""
    admin_url = make_url(admin)
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    await _admin(admin_url, f'CREATE DATABASE "{name}"')
    return admin_url, name


async def _drop(admin_url: URL, name: str) -> None:
    await _admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.asynccontextmanager
async def scratch_postgres(admin: str, prefix: str) -> AsyncIterator[str]:
    """A migrated scratch database next to ``admin`` (an asyncpg SQLAlchemy URL), dropped
    when the block ends; its URL."""
    admin_url, name = await _create(admin, prefix)
    try:
        url = admin_url.set(database=name).render_as_string(hide_password=False)
        await asyncio.to_thread(upgrade, url)
        yield url
    finally:
        await _drop(admin_url, name)


@contextlib.contextmanager
def scratch_postgres_blocking(admin: str, prefix: str) -> Iterator[str]:
    """:func:`scratch_postgres` for a benchmark that runs its own event loops."""
    admin_url, name = asyncio.run(_create(admin, prefix))
    try:
        url = admin_url.set(database=name).render_as_string(hide_password=False)
        upgrade(url)
        yield url
    finally:
        asyncio.run(_drop(admin_url, name))
