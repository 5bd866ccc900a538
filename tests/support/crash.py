"""Bot processes that a test can SIGKILL and restart.

Each :class:`BotProcess` is ``loyalty-bot run -c CONFIG`` (bot.cli's own entry point) in a
process of its own: its own pid, event loop, database connections and HTTP session, so
SIGKILL is a real crash. The processes are forked by a multiprocessing *forkserver* that
has imported the bot once: importing aiogram costs seconds of CPU on a loaded machine, and a
crash-and-restart test would otherwise pay it for every start. The forkserver imports
nothing else and opens nothing, so a forked bot starts as clean as an exec'ed one.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import signal
from collections.abc import Mapping
from pathlib import Path
from time import monotonic
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
PRELOAD = ["bot.app", "bot.cli", "tests.support.crash"]
_CONTEXT = multiprocessing.get_context("forkserver")


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    return "[" + ", ".join(_toml(v) for v in value) + "]"


def write_config(path: Path, **sections: Mapping[str, Any]) -> Path:
    """A bot's ``config.toml`` at ``path``, one ``[section]`` per keyword, of plain values
    (strings, numbers, booleans, lists, inline tables)."""
    lines = []
    for name, values in sections.items():
        lines += [f"[{name}]", *(f"{k} = {_toml(v)}" for k, v in values.items()), ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def counter_business(name: str, owner_ids: list[int]) -> dict[str, dict[str, Any]]:
    """The ``business`` and ``loyalty`` sections of a garage whose cashiers are owners
    (they post ``/purchase`` without being hired first)."""
    return {
        "business": {
            "name": name, "timezone": "Europe/Moscow", "currency": "RUB",
            "default_language": "en", "owner_ids": owner_ids,
            "outlets": [{"code": "main", "name": "Main"}],
        },
        "loyalty": {
            "point_value": "1", "earn_percent": "5", "welcome_bonus": 0,
            "service_tags": ["oil", "tyres", "wash"], "max_purchase_amount": "1000000",
        },
    }  # fmt: skip


def _run(config: str, log: str, token: str, extra: tuple[str, ...] = ()) -> None:
    """The child: output to ``log``, a clean environment, then ``loyalty-bot run``."""
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    os.chdir(REPO_ROOT)
    for key in [k for k in os.environ if k.startswith("LOYALTY_")] + ["DATABASE_URL"]:
        os.environ.pop(key, None)
    os.environ["BOT_TOKEN"] = token
    from bot.cli import app

    app(["run", "-c", config, *extra], prog_name="loyalty-bot")


class BotProcess:
    """``loyalty-bot run`` as a child process with its output in a log file."""

    def __init__(self, config: Path, token: str, log: Path, *extra: str) -> None:
        """``extra``: more ``loyalty-bot run`` options, e.g. ``--role worker``."""
        self.log = log
        self.process = _CONTEXT.Process(
            target=_run, args=(str(config), str(log), token, extra), name=f"bot-{log.stem}"
        )

    async def start(self) -> None:
        """Fork the bot (the first start waits for the forkserver's imports)."""
        _CONTEXT.set_forkserver_preload(PRELOAD)
        await asyncio.to_thread(self.process.start)

    @property
    def pid(self) -> int:
        assert self.process.pid is not None, "not started"
        return self.process.pid

    def check_alive(self) -> None:
        """AssertionError with the log's tail if the bot has exited."""
        if self.process.pid is not None and not self.process.is_alive():
            raise AssertionError(f"bot exited with {self.process.exitcode}:\n{self.tail()}")

    def tail(self, lines: int = 40) -> str:
        if not self.log.exists():
            return "(no log)"
        text = self.log.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def kill(self) -> None:
        """SIGKILL: the crash."""
        if self.process.pid is not None and self.process.is_alive():
            os.kill(self.pid, signal.SIGKILL)
            self.process.join(timeout=30)

    async def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM (aiogram stops polling and the bot shuts down), SIGKILL if it lingers."""
        if self.process.pid is None:
            return
        if self.process.is_alive():
            os.kill(self.pid, signal.SIGTERM)
            deadline = monotonic() + timeout
            while self.process.is_alive() and monotonic() < deadline:
                await asyncio.sleep(0.05)
        self.kill()
        self.process.close()
