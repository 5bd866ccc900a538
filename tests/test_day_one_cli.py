"""Issue 20, items 5 and 6: the operator's terminal on day one. A second `loyalty-bot run`
refuses to start and names the first; a conflict seen by a running poller is one log line
and a clean stop; `restore` refuses while a bot holds the database; an unreachable
PostgreSQL, a mistyped SQLite path, a new and an unmigrated database are each one line
that says what happened or what to do."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
from pathlib import Path
from time import monotonic

import pytest

from bot.polling import ConcurrentPoller
from bot.testing.telegram_double import BotAPIServer, FakeTelegram, recording_bot
from tests.support.crash import BotProcess
from tests.test_config import _clean_env, _write_config

ROOT = Path(__file__).resolve().parent.parent
CONFLICT = "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"  # noqa: E501


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        cwd=ROOT,
        env={**_clean_env(), "BOT_TOKEN": "123:ABC", **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0, result.stderr
    return result.stderr.strip()


# --- item 6 -------------------------------------------------------------------------------


def test_postgresql_unreachable_is_one_line_on_run_and_migrate(tmp_path: Path) -> None:
    """PostgreSQL unreachable → 503 lines on `run`, 549 on `migrate`: now one line each."""
    url = "postgresql+asyncpg://loyalty@127.0.0.1:9/shop"
    config = _write_config(tmp_path, database={"url": url})
    for command in ("migrate", "run"):
        line = _one_line(_cli(command, "-c", str(config)))
        assert "cannot reach the database 127.0.0.1:9/shop" in line, line
        assert "check database.url" in line


def test_a_mistyped_sqlite_path_is_refused_not_created(tmp_path: Path) -> None:
    """A mistyped SQLite path silently created `nonexistent/dir/x.db`."""
    missing = tmp_path / "nonexistent" / "dir"
    config = _write_config(tmp_path, database={"url": f"sqlite+aiosqlite:///{missing}/x.db"})
    for command in ("migrate", "run"):
        line = _one_line(_cli(command, "-c", str(config)))
        assert f"directory {missing} does not exist" in line, line
    assert not (tmp_path / "nonexistent").exists()


def test_migrate_says_what_it_did_and_run_says_to_migrate(tmp_path: Path) -> None:
    """`migrate` on a new database said «database is up to date»; `run` on an unmigrated
    one said «schema is at nothing, the code needs 0016»."""
    config = _write_config(tmp_path, telegram={"api_server": "http://127.0.0.1:9"})
    line = _one_line(_cli("run", "-c", str(config)))
    assert "has no tables yet: run `loyalty-bot migrate`" in line
    assert "nothing" not in line
    created = _cli("migrate", "-c", str(config))
    assert created.returncode == 0, created.stderr
    assert f"created the database {tmp_path / 'cli.db'}: every table" in created.stdout
    again = _cli("migrate", "-c", str(config))
    assert "is up to date" in again.stdout and "nothing to do" in again.stdout


# --- item 5 -------------------------------------------------------------------------------

CONFIG = """\
[business]
name = "Day One Garage"
timezone = "Europe/Moscow"
default_language = "en"

[telegram]
api_server = "{api}"
polling_timeout = 1

[database]
url = "{db_url}"

[worker]
lease_check_seconds = 1
"""


async def _until(check: object, process: BotProcess, seconds: float = 60) -> None:
    deadline = monotonic() + seconds
    while not check():  # type: ignore[operator]
        assert monotonic() < deadline, process.tail()
        await asyncio.sleep(0.05)


async def test_a_second_run_refuses_restore_refuses_a_conflict_stops_cleanly(
    tmp_path: Path, db_url: str
) -> None:
    """A second `loyalty-bot run` killed the first with a ~150-line traceback ending
    `TelegramConflictError`, and `restore` ran while the bot was up."""
    fake = FakeTelegram()
    async with BotAPIServer(fake) as server:
        config = tmp_path / "config.toml"
        config.write_text(CONFIG.format(api=server.url, db_url=db_url), encoding="utf-8")
        env = {"BOT_TOKEN": fake.token}
        backup = tmp_path / "before.backup"
        assert _cli("backup", "-c", str(config), "--to", str(backup), env=env).returncode == 0
        first = BotProcess(config, fake.token, tmp_path / "first.log")
        await first.start()
        try:
            await _until(lambda: fake.calls("getUpdates"), first)
            second = await asyncio.to_thread(_cli, "run", "-c", str(config), env=env)
            line = _one_line(second)
            assert "already polling this bot" in line
            assert f"pid {first.pid} holds" in line and "loyalty.db.poller.lock" in line
            restore = await asyncio.to_thread(
                _cli, "restore", str(backup), "--yes", "-c", str(config), env=env
            )
            line = _one_line(restore)
            assert "stop the bot first" in line and f"pid {first.pid}" in line
            first.check_alive()
            fake.fail_next("getUpdates", 409, CONFLICT)
            await _until(lambda: not first.process.is_alive(), first, 30)
            assert first.process.exitcode == 0, first.tail()
            log = (tmp_path / "first.log").read_text(encoding="utf-8")
            assert "Traceback" not in log and log.count("getUpdates request") == 1, log
        finally:
            await first.stop()
        restored = _cli("restore", str(backup), "--yes", "-c", str(config), env=env)
        assert restored.returncode == 0, restored.stderr  # with the bot stopped it may


async def test_the_poller_stops_on_a_conflict_with_one_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake = FakeTelegram()
    bot = recording_bot(fake)

    async def handle(update: object) -> None:
        return None

    fake.fail_next("getUpdates", 409, CONFLICT)
    try:
        with caplog.at_level(logging.INFO, logger="bot.polling"):
            poller = ConcurrentPoller(bot, handle, timeout=1, max_concurrent=4)  # type: ignore[arg-type]
            await asyncio.wait_for(poller.run(), 10)
    finally:
        await bot.session.close()
    records = [r for r in caplog.records if r.name == "bot.polling"]
    assert len(records) == 1 and records[0].exc_info is None
    assert "another process is taking this bot's updates" in records[0].getMessage()


async def test_a_taken_http_port_is_one_line(tmp_path: Path) -> None:
    """A second program on `web.port` (8080 in the example config) gave a 60-line traceback
    ending `address already in use`; now one line that names the port and the fix."""
    import socket

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    async with BotAPIServer(FakeTelegram()) as server:
        config = _write_config(tmp_path, telegram={"api_server": server.url}, web={"port": port})
        assert (await asyncio.to_thread(_cli, "migrate", "-c", str(config))).returncode == 0
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot.cli", "run", "-c", str(config), cwd=ROOT,
            env={**_clean_env(), "BOT_TOKEN": server.fake.token},
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        _, err = await asyncio.wait_for(process.communicate(), 120)
    taken.close()
    result = subprocess.CompletedProcess([], process.returncode or 0, "", err.decode())
    line = _one_line(result)
    assert f"cannot serve HTTP on 127.0.0.1:{port}" in line and "web.port" in line, line
