"""Secrets never leave the process (SPEC.md, Running; issue 9, section 3): the bot token is
cut out of every stored error and every log line, and the files that may hold secrets or
personal data (config.toml, the SQLite database) are created readable by the owner only."""

from __future__ import annotations

import io
import logging
import os
import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.app import build_bot
from bot.config import settings_from_dict
from bot.db import migrate
from bot.db.engine import create_database
from bot.db.models import OutboxMessage
from bot.delivery.sender import OutboxSender
from bot.logs import REDACTED, setup_logging
from tests.conftest import base_config
from tests.support.flows import join
from tests.support.harness import App

SECRET = "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
TOKEN = f"123456:{SECRET}"
# A port out of range: aiohttp refuses the URL and quotes it whole, /bot<token>/ included.
LEAKY_SERVER = "http://127.0.0.1:99999"
REPO = Path(__file__).resolve().parents[1]


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def logged() -> Iterator[tuple[io.StringIO, Records]]:
    """The app's own logging set up with the token, its output and every record it saw."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    out = io.StringIO()
    setup_logging("INFO", (TOKEN, SECRET), stream=out)
    records = Records()
    root.addHandler(records)  # after the app's handler: sees records as it left them
    try:
        yield out, records
    finally:
        root.handlers[:], root.level = saved[0], saved[1]


async def test_token_never_stored_or_logged(
    app: App, db_url: str, logged: tuple[io.StringIO, Records]
) -> None:
    out, records = logged
    config = base_config(db_url, telegram={"api_server": LEAKY_SERVER})
    config["bot_token"] = TOKEN
    settings = settings_from_dict(config, use_env=False)
    assert set(settings.secrets()) == {TOKEN, SECRET}
    customer = await join(app, app.user(5001, "en"))
    await app.owner.send(f"/purchase {customer.card_code} 1000")  # queues "+50 points"
    variant = app.variant(settings)
    bot = build_bot(settings)
    try:
        assert await OutboxSender(variant.biz, bot).drain() >= 1
        try:
            await bot.get_me()
        except Exception:
            logging.getLogger("tests.secrets").exception("the API server is unreachable")
        else:
            pytest.fail("the API server should be unreachable")
    finally:
        await bot.session.close()

    async with app.biz.db.read() as session:
        errors = list(await session.scalars(select(OutboxMessage.last_error)))
    assert errors and all(e and "InvalidUrl" in e and REDACTED in e for e in errors), errors
    assert not any(SECRET in e for e in errors)

    text = out.getvalue()
    assert "send failed" in text and "Traceback" in text and REDACTED in text, text
    assert SECRET not in text
    seen = [r for r in records.records if r.name in ("bot.delivery.sender", "tests.secrets")]
    assert len(seen) >= 2
    for record in seen:
        assert SECRET not in record.getMessage()
        assert SECRET not in (record.exc_text or "")
        assert not any(SECRET in str(v) for v in vars(record).values() if isinstance(v, str))


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def usual_umask() -> Iterator[None]:
    """The common umask (022), under which files are world-readable unless made otherwise."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


@pytest.mark.usefixtures("usual_umask")
def test_migrated_database_is_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "data" / "loyalty.db"
    path.parent.mkdir()  # a missing directory is refused (a typo), except the default data/
    migrate.upgrade(f"sqlite+aiosqlite:///{path}")
    files = [p for p in path.parent.iterdir() if p.name.startswith("loyalty.db")]
    assert path in files
    assert {p.name: _mode(p) for p in files} == {p.name: 0o600 for p in files}


@pytest.mark.usefixtures("usual_umask")
async def test_database_opened_by_the_app_is_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "fresh.db"
    db = create_database(f"sqlite+aiosqlite:///{path}")
    try:
        async with db.write() as session:
            await session.execute(select(1))
        modes = {p.name: _mode(p) for p in tmp_path.iterdir() if p.name.startswith("fresh.db")}
    finally:
        await db.dispose()
    assert modes == {"fresh.db": 0o600, "fresh.db-wal": 0o600, "fresh.db-shm": 0o600}


@pytest.mark.usefixtures("usual_umask")
@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_creates_config_owner_only(tmp_path: Path) -> None:
    shutil.copy(REPO / "config.example.toml", tmp_path)
    subprocess.run(
        ["make", "-s", "-f", str(REPO / "Makefile"), "config.toml"],
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )
    config = tmp_path / "config.toml"
    assert config.read_text() == (REPO / "config.example.toml").read_text()
    assert _mode(config) == 0o600
