"""Load test on loopback: webhook web processes + one worker on PostgreSQL and Redis.

The processes are the real command, ``loyalty-bot run --webhook --role web`` (each on its
own port) and ``loyalty-bot run --role worker``, started as the crash tests start them
(``tests.support.crash.BotProcess``), on a scratch PostgreSQL database (migrated, dropped
afterwards) with conversation state in Redis (``telegram.fsm_redis_url``, a Redis
database of its own whose ``fsm:*`` keys are deleted afterwards). This process plays
Telegram: it serves the Bot API double (``BotAPIServer``) that the bot answers through,
and posts webhook updates with the secret header, spread over the web processes as a
reverse proxy would (round robin), from ``--chats`` chats:

* customers (registered beforehand) asking ``/balance`` and ``/card``;
* cashiers (``--cashiers`` owners) recording ``/purchase <card> <amount>``, whose
  notifications the worker's outbox sender delivers.

Closed loop: ``--connections`` concurrent POSTs (Telegram's webhook opens up to 40),
each taking the next update; an update of a chat is never posted while that chat's
previous one is unanswered (as Telegram does). A POST's latency runs until its 200,
which the bot sends only after the update's effects are committed. The same run
measures one web process, then two, against the same database; the ratio is two over one.
Besides updates/s and latency, the CPU each web process spent per update (and the
worker's and this process's CPU share) is read from /proc: on a machine shared with
other work, throughput says as much about the neighbours as about the bot.

Usage::

    .venv/bin/python -m bench.load [--seconds 20] [--warmup 3] [--chats 200]
        [--cashiers 20] [--connections 40] [--webs 2] [--record]

PostgreSQL: ``--pg-url`` (default ``$LOYALTY_BENCH_POSTGRES_URL`` or
``postgresql+asyncpg://postgres@127.0.0.1:5432/test``); Redis: ``--redis-url`` (default
``redis://127.0.0.1:6379/13``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import random
import socket
import sys
import tempfile
import time
from collections import deque
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import func, select

from bench.common import machine, scratch_postgres
from bot.app import build_business
from bot.config import load_settings
from bot.db.models import OutboxMessage, OutboxState, Purchase
from bot.services.members.signup import register
from bot.services.people.staff import sync_outlets
from bot.testing.telegram_double import BotAPIServer, FakeTelegram
from bot.web import SECRET_HEADER
from tests.support.crash import BotProcess, counter_business
from tests.support.crash import write_config as config_file

RESULTS = Path(__file__).with_name("RESULTS.md")
DEFAULT_PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/13"
SECRET = "load-test-webhook-secret-0123456789"
PATH = "/telegram/webhook"
CASHIER_BASE = 1000
CUSTOMER_BASE = 9_000_000
START_TIMEOUT = 90.0


def cpu_seconds(pids: Sequence[int]) -> float:
    """User + system CPU of processes so far (Linux /proc), children not included."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    return total / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.asynccontextmanager
async def scratch_redis(url: str) -> AsyncIterator[str]:
    from redis.asyncio import Redis

    client = Redis.from_url(url)
    try:
        if await client.dbsize():
            raise SystemExit(f"{url} is not empty: pass --redis-url with a free database")
        yield url
    finally:
        keys = [key async for key in client.scan_iter("fsm:*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


def message_update(update_id: int, chat: int, text: str) -> dict[str, Any]:
    command = text.split()[0]
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": int(time.time()),
            "chat": {"id": chat, "type": "private", "first_name": "U"},
            "from": {"id": chat, "is_bot": False, "first_name": "U", "language_code": "en"},
            "text": text,
            "entities": [{"type": "bot_command", "offset": 0, "length": len(command)}],
        },
    }


class Workload:
    """Updates in round-robin chat order; a chat is busy while its update is unanswered."""

    def __init__(self, customers: list[tuple[int, str]], cashiers: list[int], seed: int) -> None:
        self.rng = random.Random(seed)
        self.customers = customers
        chats = [c for c, _ in customers] + cashiers
        self.rng.shuffle(chats)  # cashiers among the customers, not after them
        self.chats = deque(chats)
        self.cashiers = set(cashiers)
        self.busy: set[int] = set()
        self.ids = itertools.count(1_000_000 + seed * 10_000_000)

    def next(self) -> tuple[int, dict[str, Any]] | None:
        for _ in range(len(self.chats)):
            chat = self.chats[0]
            self.chats.rotate(-1)
            if chat in self.busy:
                continue
            self.busy.add(chat)
            if chat in self.cashiers:
                card = self.rng.choice(self.customers)[1]
                text = f"/purchase {card} {self.rng.randint(100, 5000)}"
            else:
                text = self.rng.choice(("/balance", "/card"))
            return chat, message_update(next(self.ids), chat, text)
        return None


@dataclass
class Phase:
    webs: int
    seconds: float
    answered: int
    failed: int
    latencies: list[float]
    client_cpu_s: float
    web_cpu_s: float  # all web processes together
    worker_cpu_s: float

    @property
    def ups(self) -> float:
        return self.answered / self.seconds

    def p(self, q: float) -> float:
        ordered = sorted(self.latencies)
        if not ordered:
            return float("nan")
        return 1000 * ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


async def drive(
    ports: list[int],
    workload: Workload,
    connections: int,
    warmup: float,
    seconds: float,
    web_pids: list[int],
    worker_pid: int,
) -> Phase:
    latencies: list[float] = []
    counts = {"answered": 0, "failed": 0}
    targets = itertools.cycle(f"http://127.0.0.1:{p}{PATH}" for p in ports)
    measuring = asyncio.Event()
    stop_at = [float("inf")]

    async def connection(session: aiohttp.ClientSession) -> None:
        while time.perf_counter() < stop_at[0]:
            picked = workload.next()
            if picked is None:
                await asyncio.sleep(0.001)
                continue
            chat, update = picked
            started = time.perf_counter()
            try:
                async with session.post(
                    next(targets), json=update, headers={SECRET_HEADER: SECRET}
                ) as response:
                    await response.read()
                    ok = response.status == 200
            except aiohttp.ClientError:
                ok = False
            finally:
                workload.busy.discard(chat)
            if measuring.is_set() and time.perf_counter() <= stop_at[0]:
                if ok:
                    counts["answered"] += 1
                    latencies.append(time.perf_counter() - started)
                else:
                    counts["failed"] += 1

    connector = aiohttp.TCPConnector(limit=connections)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        tasks = [asyncio.create_task(connection(session)) for _ in range(connections)]
        await asyncio.sleep(warmup)
        measuring.set()
        cpu, started = time.process_time(), time.perf_counter()
        web_cpu, worker_cpu = cpu_seconds(web_pids), cpu_seconds([worker_pid])
        stop_at[0] = started + seconds
        await asyncio.sleep(seconds)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        web_cpu = cpu_seconds(web_pids) - web_cpu
        worker_cpu = cpu_seconds([worker_pid]) - worker_cpu
        await asyncio.gather(*tasks)
    return Phase(
        len(ports),
        elapsed,
        counts["answered"],
        counts["failed"],
        latencies,
        cpu,
        web_cpu,
        worker_cpu,
    )


async def wait_ready(process: BotProcess, port: int | None, marker: str | None = None) -> None:
    deadline = time.perf_counter() + START_TIMEOUT
    async with aiohttp.ClientSession() as session:
        while True:
            process.check_alive()
            if port is not None:
                with contextlib.suppress(aiohttp.ClientError):
                    async with session.get(f"http://127.0.0.1:{port}/readyz") as response:
                        if response.status == 200:
                            return
            elif marker is not None and marker in process.tail(200):
                return
            if time.perf_counter() > deadline:
                raise TimeoutError(f"not ready in {START_TIMEOUT}s:\n{process.tail()}")
            await asyncio.sleep(0.2)


async def seed(config: Path, customers: int) -> list[tuple[int, str]]:
    biz = build_business(load_settings(config, use_env=False))
    try:
        await sync_outlets(biz)
        seeded = []
        for n in range(customers):
            outcome = await register(
                biz,
                key=f"load:{n}",
                tg_id=CUSTOMER_BASE + n,
                phone=f"+7916{6_000_000 + n:07d}",
                name=f"Customer {n}",
                language="en",
                consent_at=datetime.now(UTC),
            )
            seeded.append((CUSTOMER_BASE + n, outcome.result.card_code))
        return seeded
    finally:
        await biz.db.dispose()


async def totals(config: Path) -> dict[str, int]:
    biz = build_business(load_settings(config, use_env=False))
    try:
        async with biz.db.read() as session:
            purchases = await session.scalar(select(func.count(Purchase.id)))
            pending = await session.scalar(
                select(func.count(OutboxMessage.id)).where(
                    OutboxMessage.state == OutboxState.PENDING
                )
            )
        return {"purchases": int(purchases or 0), "outbox_pending": int(pending or 0)}
    finally:
        await biz.db.dispose()


def write_config(
    tmp: Path, name: str, api: str, redis: str, db_url: str, port: int, cashiers: list[int]
) -> Path:
    return config_file(
        tmp / f"{name}.toml",
        **counter_business("Load Garage", cashiers),
        telegram={"api_server": api, "fsm_redis_url": redis},
        database={"url": db_url},
        outbox={"poll_seconds": 0.5},
        web={"host": "127.0.0.1", "port": port, "webhook_path": PATH, "webhook_secret": SECRET},
    )


async def run(args: argparse.Namespace) -> tuple[list[Phase], dict[str, int], int]:
    cashiers = [CASHIER_BASE + n for n in range(args.cashiers)]
    fake = FakeTelegram()
    processes: list[BotProcess] = []
    async with (
        scratch_postgres(args.pg_url, "loyalty_load") as db_url,
        scratch_redis(args.redis_url) as redis_url,
        BotAPIServer(fake) as server,
    ):
        with tempfile.TemporaryDirectory(prefix="loyalty_load_") as tmp_name:
            tmp = Path(tmp_name)
            ports = [free_port() for _ in range(args.webs)]
            configs = [
                write_config(tmp, f"web{i}", server.url, redis_url, db_url, port, cashiers)
                for i, port in enumerate(ports)
            ]
            worker_config = write_config(tmp, "worker", server.url, redis_url, db_url, 0, cashiers)
            customers = await seed(worker_config, args.chats - args.cashiers)
            workload = Workload(customers, cashiers, seed=20261126)
            try:
                worker = BotProcess(
                    worker_config, fake.token, tmp / "worker.log", "--role", "worker"
                )
                processes.append(worker)
                await worker.start()
                await wait_ready(worker, None, "worker lease acquired")
                phases = []
                for count in range(1, args.webs + 1):
                    index = count - 1
                    web = BotProcess(
                        configs[index], fake.token, tmp / f"web{index}.log",
                        "--webhook", "--role", "web",
                    )  # fmt: skip
                    processes.append(web)
                    await web.start()
                    await wait_ready(web, ports[index])
                    if count not in (1, args.webs):
                        continue
                    print(f"{count} web process(es) ...", file=sys.stderr, flush=True)
                    phases.append(
                        await drive(
                            ports[:count],
                            workload,
                            args.connections,
                            args.warmup,
                            args.seconds,
                            [p.pid for p in processes[1:]],
                            worker.pid,
                        )
                    )
                for process in processes:
                    process.check_alive()
                await asyncio.sleep(3)  # the worker's last notifications
                counts = await totals(worker_config)
                sent = len(fake.sent())
            finally:
                for process in processes:
                    await process.stop()
    return phases, counts, sent


def table(phases: list[Phase]) -> str:
    lines = [f"{'web procs':<10}{'upd/s':>8}{'p50 ms':>9}{'p99 ms':>9}{'answered':>10}"
             f"{'failed':>8}{'web CPU ms':>12}{'worker CPU':>12}{'client':>8}"]  # fmt: skip
    for p in phases:
        lines.append(
            f"{p.webs:<10}{p.ups:>8.1f}{p.p(50):>9.1f}{p.p(99):>9.1f}{p.answered:>10}"
            f"{p.failed:>8}{1000 * p.web_cpu_s / max(p.answered, 1):>12.1f}"
            f"{100 * p.worker_cpu_s / p.seconds:>11.0f}%{100 * p.client_cpu_s / p.seconds:>7.0f}%"
        )
    if len(phases) == 2:
        lines.append(
            f"{phases[1].webs} over 1: throughput x{phases[1].ups / phases[0].ups:.2f}, "
            f"p99 {phases[0].p(99):.0f} -> {phases[1].p(99):.0f} ms"
        )
    return "\n".join(lines)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.split("\n")[0])
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--warmup", type=float, default=3.0)
    p.add_argument("--chats", type=int, default=200)
    p.add_argument("--cashiers", type=int, default=20)
    p.add_argument("--connections", type=int, default=40)
    p.add_argument("--webs", type=int, default=2)
    p.add_argument("--pg-url", default=os.environ.get("LOYALTY_BENCH_POSTGRES_URL", DEFAULT_PG_URL))
    p.add_argument("--redis-url", default=DEFAULT_REDIS_URL)
    p.add_argument("--record", action="store_true", help=f"append the result to {RESULTS.name}")
    args = p.parse_args(argv)
    if not 0 < args.cashiers < args.chats:
        p.error("--cashiers must be between 0 and --chats")
    return args


async def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    phases, counts, sent = await run(args)
    text_ = (
        f"{machine()}\n{args.chats} chats ({args.cashiers} cashiers posting /purchase, the "
        f"rest /balance and /card), {args.connections} connections, {args.seconds:g} s per "
        f"phase after {args.warmup:g} s warm-up; PostgreSQL + Redis, 1 worker\n\n"
        f"{table(phases)}\n\nafter the run: {counts['purchases']} purchases, "
        f"{counts['outbox_pending']} notifications still pending, {sent} messages sent"
    )
    print(text_)
    if args.record:
        with RESULTS.open("a", encoding="utf-8") as fh:
            fh.write(
                f"\n### Run {date.today().isoformat()}: `python -m bench.load {' '.join(argv)}`"
                f"\n\n```\n{text_}\n```\n"
            )
    return 0 if all(p.failed == 0 for p in phases) else 1


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main(sys.argv[1:])))
