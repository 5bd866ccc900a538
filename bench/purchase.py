"""Throughput and latency of the staff ``/purchase`` command against a bare aiogram echo.

Both dispatchers are driven the same way: real :class:`aiogram.types.Update` objects are fed
to ``Dispatcher.feed_update`` with a real :class:`Bot` on the in-process
:class:`~bot.testing.telegram_double.RecordingSession`, so every reply is built, serialised and
"sent" through aiogram's session machinery while no network is involved.

* echo: one handler answering the message text;
* purchase: ``build_dispatcher(biz)`` (middlewares, role gate, command parsing, the
  exactly-once transaction with purchase, ledger, outbox and audit rows, templated reply),
  fed ``/purchase <card_code> <amount>`` from K hired cashiers against a pool of seeded
  customers (and, as an extra row, against one hot customer).

Throughput is closed-loop: K asyncio tasks, one per cashier, each feeding its own updates
one after another; the median of several interleaved rounds is reported. Latency is
open-loop: Poisson arrivals at a fixed offered rate R, split over the K cashiers, measured
from each update's scheduled arrival to the end of its handling (queueing included).

Usage::

    .venv/bin/python -m bench.purchase [--backend sqlite|postgresql|both] [--updates N]
        [--cashiers K] [--rounds R] [--rate UPDATES_PER_S] [--profile] [--record]
        [--lock-holder]

``--lock-holder`` (SQLite): during the latency measurement a second process holds the
file's write lock like a CLI import, ``BEGIN IMMEDIATE`` … ``COMMIT`` for
``--lock-hold-ms`` out of every ``--lock-every-ms``.

PostgreSQL: a scratch database is created next to ``--pg-url`` (default
``postgresql+asyncpg://postgres@127.0.0.1:5432/test``, or ``$LOYALTY_BENCH_POSTGRES_URL``)
and dropped afterwards; if the server is unreachable the backend is skipped.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import io
import math
import os
import pstats
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from aiogram import Bot, Dispatcher, Router
from aiogram.types import Message, Update
from sqlalchemy import event, func, insert, select
from sqlalchemy.engine import make_url

from bench.common import load_average, machine, scratch_postgres, server_version
from bot.app import PLACEHOLDER_TOKEN, build_bot, build_business, build_dispatcher
from bot.codes import new_card_code
from bot.config import Settings, settings_from_dict
from bot.db.engine import Database, create_database
from bot.db.migrate import upgrade
from bot.db.models import Customer, LedgerEntry, OutboxMessage, Purchase, Staff
from bot.services.context import Business
from bot.services.people.staff import sync_outlets
from bot.testing.telegram_double import ChatUser, FakeTelegram, RecordingSession

DEFAULT_PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
RESULTS = Path(__file__).with_name("RESULTS.md")
OWNER_ID = 1000
CASHIER_BASE_ID = 6000
CUSTOMER_BASE_ID = 10_000_000
GOAL = 0.2


# --------------------------------------------------------------------------- setup


def bench_settings(db_url: str) -> Settings:
    return settings_from_dict(
        {
            "business": {
                "name": "Bench Garage",
                "owner_ids": [OWNER_ID],
                "timezone": "Europe/Moscow",
                "default_language": "en",
                "outlets": [{"code": "main", "name": "Main"}],
            },
            "loyalty": {
                "service_tags": ["oil", "tyres", "wash"],
                "earn_percent": "5",
                "point_value": "1",
                "max_purchase_amount": "1000000",
            },
            "database": {"url": db_url},
        },
        use_env=False,
    )


@asynccontextmanager
async def sqlite_url() -> AsyncIterator[str]:
    with tempfile.TemporaryDirectory(prefix="loyalty_bench_") as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        await asyncio.to_thread(upgrade, url)
        yield url


@asynccontextmanager
async def postgres_url(admin: str) -> AsyncIterator[str | None]:
    """A migrated scratch database next to ``admin``; None if the server is unreachable."""
    try:
        await server_version(admin)
    except Exception as exc:
        print(f"postgresql: skipped, {make_url(admin).render_as_string()} unreachable: {exc!r}")
        yield None
        return
    async with scratch_postgres(admin, "loyalty_bench") as url:
        yield url


class StatementCounter:
    """Counts SQL statements and transactions sent over the engine (round trips, roughly)."""

    def __init__(self, db: Database) -> None:
        self.statements = 0
        self.transactions = 0
        for sync_engine in db.sync_engines():
            event.listen(sync_engine, "before_cursor_execute", self._statement)
            event.listen(sync_engine, "commit", self._transaction)
            event.listen(sync_engine, "rollback", self._transaction)

    def _statement(self, *_: Any) -> None:
        self.statements += 1

    def _transaction(self, *_: Any) -> None:
        self.transactions += 1

    def snapshot(self) -> tuple[int, int]:
        return self.statements, self.transactions


@dataclass
class Harness:
    """One backend: the app's dispatcher, an echo dispatcher, one bot, one fake Telegram."""

    backend: str
    biz: Business
    fake: FakeTelegram
    bot: Bot
    app_dp: Dispatcher
    echo_dp: Dispatcher
    cashiers: list[ChatUser]
    card_codes: list[str]
    counter: StatementCounter
    rng: random.Random = field(default_factory=lambda: random.Random(20261123))

    @classmethod
    async def start(cls, backend: str, url: str, customers: int, cashiers: int) -> Harness:
        settings = bench_settings(url)
        biz = build_business(settings, db=create_database(url))
        await sync_outlets(biz)
        fake = FakeTelegram(token=PLACEHOLDER_TOKEN)
        bot = build_bot(settings, session=RecordingSession(fake))
        app_dp = build_dispatcher(biz)
        harness = cls(
            backend=backend,
            biz=biz,
            fake=fake,
            bot=bot,
            app_dp=app_dp,
            echo_dp=echo_dispatcher(),
            cashiers=[],
            card_codes=await seed_customers(biz, customers),
            counter=StatementCounter(biz.db),
        )
        for n in range(cashiers):
            harness.cashiers.append(await harness.hire(CASHIER_BASE_ID + n, f"Cashier {n}"))
        return harness

    async def close(self) -> None:
        await self.bot.session.close()
        await self.biz.db.dispose()

    def user(self, user_id: int, name: str) -> ChatUser:
        return ChatUser(self.app_dp, self.bot, user_id, first_name=name, language_code="en")

    async def hire(self, user_id: int, name: str) -> ChatUser:
        """The real invite flow: the owner's /invite, the link opened by the new cashier."""
        owner, cashier = self.user(OWNER_ID, "Owner"), self.user(user_id, name)
        await owner.send("/invite")
        link = self.fake.last(OWNER_ID).text or ""
        await cashier.send(f"/start {link.split('?start=')[1].split()[0]}")
        async with self.biz.db.read() as session:
            staff = await session.scalar(select(Staff).where(Staff.telegram_id == user_id))
        if staff is None or not staff.active:
            raise RuntimeError(f"hiring failed: {self.fake.texts(user_id)}")
        return cashier

    def purchase_updates(self, n: int, *, hot: bool = False) -> list[list[Update]]:
        """``n`` /purchase updates dealt round-robin to the cashiers (one list per cashier)."""
        per_cashier: list[list[Update]] = [[] for _ in self.cashiers]
        for i in range(n):
            code = self.card_codes[0] if hot else self.rng.choice(self.card_codes)
            amount = f"{self.rng.randint(100, 20000)},{self.rng.randint(0, 99):02d}"
            cashier = self.cashiers[i % len(self.cashiers)]
            per_cashier[i % len(self.cashiers)].append(
                cashier.build_message(f"/purchase {code} {amount}")
            )
        return per_cashier

    async def counts(self) -> tuple[int, int, int]:
        async with self.biz.db.read() as session:
            return tuple(  # type: ignore[return-value]
                [
                    int(await session.scalar(select(func.count()).select_from(model)) or 0)
                    for model in (Purchase, LedgerEntry, OutboxMessage)
                ]
            )

    def check_replies(self, n: int, prefix: str | None) -> None:
        """Every update got exactly one successful reply (of the expected kind)."""
        sent = [c for c in self.fake.requests if c.method == "sendMessage"]
        bad = [c for c in sent if not c.ok or (prefix and not (c.text or "").startswith(prefix))]
        if len(sent) != n or bad:
            sample = bad[0].text if bad else f"{len(sent)} replies"
            raise RuntimeError(f"expected {n} replies starting {prefix!r}, got {sample!r}")


def echo_dispatcher() -> Dispatcher:
    router = Router(name="echo")

    @router.message()
    async def echo(message: Message) -> None:
        await message.answer(message.text or "-")

    dp = Dispatcher()
    dp.include_router(router)
    return dp


async def seed_customers(biz: Business, count: int) -> list[str]:
    """``count`` signed-up customers in one bulk insert; returns their card codes."""
    now = datetime.now(UTC)
    codes: set[str] = set()
    while len(codes) < count:
        codes.add(new_card_code())
    rows = [
        {
            "telegram_id": CUSTOMER_BASE_ID + i,
            "phone": f"+7900{i:07d}",
            "name": f"Customer {i}",
            "name_key": f"customer {i}",
            "language": "ru" if i % 2 else "en",
            "card_code": code,
            "consent_at": now,
            "consent_version": "2026-11",
            "balance": 0,
            "created_at": now,
        }
        for i, code in enumerate(sorted(codes))
    ]
    async with biz.db.write() as session:
        await session.execute(insert(Customer), rows)
    return [row["card_code"] for row in rows]


# --------------------------------------------------------------------------- measuring

# A CLI import's write lock, held from another process: BEGIN IMMEDIATE, a write, a pause
# holding the lock, COMMIT, a pause without it; until killed.
LOCK_HOLDER = """
import sqlite3, sys, time
path, hold, every = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
conn = sqlite3.connect(path, isolation_level=None, timeout=60)
conn.execute("PRAGMA busy_timeout=60000")
print("ready", flush=True)
while True:
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("UPDATE customers SET name = name WHERE id = (SELECT min(id) FROM customers)")
    time.sleep(hold)
    conn.execute("COMMIT")
    time.sleep(max(every - hold, 0))
"""


@asynccontextmanager
async def lock_holder(h: Harness, args: argparse.Namespace) -> AsyncIterator[None]:
    """``--lock-holder`` on SQLite: another process taking the write lock meanwhile."""
    if not args.lock_holder or h.backend != "sqlite":
        yield
        return
    path = str(make_url(h.biz.settings.database.url).database)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", LOCK_HOLDER, path,
        str(args.lock_hold_ms / 1000), str(args.lock_every_ms / 1000),
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        await proc.stdout.readline()  # ready
        yield
    finally:
        proc.kill()
        await proc.wait()


@dataclass
class Run:
    updates: int
    seconds: float
    cpu_seconds: float
    statements: int
    transactions: int

    @property
    def rate(self) -> float:
        return self.updates / self.seconds


async def closed_loop(h: Harness, dp: Dispatcher, per_cashier: Sequence[Sequence[Update]]) -> Run:
    """All cashiers at once, each feeding its updates back to back; wall time for all."""

    async def cashier(updates: Sequence[Update]) -> None:
        for update in updates:
            await dp.feed_update(h.bot, update)

    gc.collect()
    h.fake.clear()
    h.fake.messages.clear()
    statements, transactions = h.counter.snapshot()
    cpu, start = time.process_time(), time.perf_counter()
    await asyncio.gather(*(cashier(updates) for updates in per_cashier))
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    n = sum(len(u) for u in per_cashier)
    s, t = h.counter.snapshot()
    return Run(n, seconds, cpu, s - statements, t - transactions)


async def open_loop(
    h: Harness, dp: Dispatcher, per_cashier: Sequence[Sequence[Update]], rate: float
) -> list[float]:
    """Poisson arrivals at ``rate``/s in total; per-update latency from scheduled arrival."""
    rng = random.Random(7)
    per_rate = rate / len(per_cashier)
    latencies: list[float] = []

    async def cashier(updates: Sequence[Update], start: float) -> None:
        due = start
        for update in updates:
            due += rng.expovariate(per_rate)
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            await dp.feed_update(h.bot, update)
            latencies.append(time.perf_counter() - due)

    gc.collect()
    h.fake.clear()
    start = time.perf_counter() + 0.01
    await asyncio.gather(*(cashier(updates, start) for updates in per_cashier))
    return latencies


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (p99 of 250 samples is the third largest)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


@dataclass
class BackendResult:
    backend: str
    cashiers: int
    echo: list[Run]
    purchase: list[Run]
    hot: list[Run]
    rate: float
    latencies: list[float]

    @staticmethod
    def median(runs: list[Run]) -> float:
        return statistics.median(r.rate for r in runs) if runs else float("nan")

    @property
    def ratio(self) -> float:
        return self.median(self.purchase) / self.median(self.echo)

    @property
    def overloaded(self) -> bool:
        """The offered load is too close to the measured saturation point (which itself moves
        when the machine is shared), so the latency is mostly queueing."""
        return self.rate > 0.6 * self.median(self.purchase)


async def measure(h: Harness, args: argparse.Namespace) -> BackendResult:
    k = len(h.cashiers)
    warm = max(k * 10, args.updates // 10)
    await closed_loop(h, h.echo_dp, h.purchase_updates(warm))
    await closed_loop(h, h.app_dp, h.purchase_updates(warm))
    before = await h.counts()
    echo: list[Run] = []
    purchase: list[Run] = []
    for _ in range(args.rounds):  # interleaved, so drift and neighbours' load hit both alike
        echo.append(await closed_loop(h, h.echo_dp, h.purchase_updates(args.updates)))
        h.check_replies(args.updates, "/purchase ")
        purchase.append(await closed_loop(h, h.app_dp, h.purchase_updates(args.updates)))
        h.check_replies(args.updates, "Purchase №")
    after = await h.counts()
    written = args.updates * args.rounds
    # exactly one purchase per update; at least one ledger entry and one outbox row (tier
    # promotions or referral rewards may add more)
    grown = [b - a for a, b in zip(before, after, strict=True)]
    if grown[0] != written or min(grown) < written:
        raise RuntimeError(f"purchase/ledger/outbox rows {before} -> {after}, expected +{written}")
    hot: list[Run] = []
    if args.hot_updates:
        hot.append(await closed_loop(h, h.app_dp, h.purchase_updates(args.hot_updates, hot=True)))
        h.check_replies(args.hot_updates, "Purchase №")
    count = max(k * 10, int(args.rate * args.latency_seconds))
    async with lock_holder(h, args):
        latencies = await open_loop(h, h.app_dp, h.purchase_updates(count), args.rate)
    h.check_replies(count, "Purchase №")
    return BackendResult(h.backend, k, echo, purchase, hot, args.rate, latencies)


PACKAGES = (
    "sqlalchemy", "aiogram", "pydantic", "pydantic_core", "jinja2", "babel", "aiosqlite",
    "asyncpg", "greenlet", "asyncio", "json", "html", "sqlite3",
)  # fmt: skip


SYNC_STEPS = (
    r"texts.py.*render|format_currency|format_decimal|session.py.*\(flush\)|_execute_context"
    r"|check_response|method_params|model_validate|create_generic_submodel|greenlet_spawn"
)


def package_of(filename: str) -> str:
    """Which library (or part of the bot) a profiled function belongs to."""
    if filename == "~":
        return "C builtins"
    parts = Path(filename).parts
    for name in ("site-packages", "lib"):
        if name in parts:
            rest = parts[parts.index(name) + 1 :]
            if rest and rest[0].split(".")[0] in PACKAGES:
                return rest[0].split(".")[0]
    if "telegram_double.py" in filename:
        return "bot.testing.telegram_double (harness)"
    for name in ("bot", "handlers", "bench", "templates"):
        if name in parts:
            return name
    return "other stdlib" if "python3" in filename else "other"


async def profile(h: Harness, args: argparse.Namespace) -> str:
    """cProfile (event-loop thread CPU time) of one closed-loop purchase round."""
    await closed_loop(h, h.app_dp, h.purchase_updates(len(h.cashiers) * 10))
    updates = h.purchase_updates(args.profile_updates)
    profiler = cProfile.Profile(time.thread_time)
    profiler.enable()
    run = await closed_loop(h, h.app_dp, updates)
    profiler.disable()
    stats = pstats.Stats(profiler)
    own: dict[str, float] = {}
    total = 0.0
    for (filename, _, _), (_, _, tottime, _, _) in stats.stats.items():  # type: ignore[attr-defined]
        own[package_of(filename)] = own.get(package_of(filename), 0.0) + tottime
        total += tottime
    out = io.StringIO()
    out.write(
        f"{run.updates} purchases, K={len(h.cashiers)}: {run.rate:.0f} updates/s under cProfile, "
        f"process CPU {1000 * run.cpu_seconds / run.updates:.2f} ms/update, "
        f"{run.statements / run.updates:.1f} SQL statements/update\n"
        "event-loop thread CPU by package (own time):\n"
    )
    for name, seconds in sorted(own.items(), key=lambda kv: -kv[1]):
        per_update = 1000 * seconds / run.updates
        out.write(f"  {name:<32}{per_update:7.2f} ms/update {100 * seconds / total:5.1f}%\n")
    stats.stream = out  # type: ignore[attr-defined]
    stats.strip_dirs().sort_stats("tottime").print_stats(args.profile_top)
    # Coroutines count every resume as a call and their cumulative time spans awaits, so the
    # cumulative view is restricted to the synchronous steps of the purchase path.
    stats.sort_stats("cumulative").print_stats(SYNC_STEPS, args.profile_top)
    return out.getvalue()


# --------------------------------------------------------------------------- report

HEADER = (
    f"{'backend':<11}{'workload':<23}{'upd/s':>7}{'ratio':>7}{'CPU ms/upd':>11}"
    f"{'SQL/upd':>8}{'tx/upd':>7}{'p50 ms':>8}{'p99 ms':>8}"
)


def table(results: list[BackendResult]) -> str:
    lines = [HEADER]

    def row(r: BackendResult, name: str, runs: list[Run]) -> None:
        if not runs:
            return
        n = sum(x.updates for x in runs)
        rate = BackendResult.median(runs)
        cpu = 1000 * sum(x.cpu_seconds for x in runs) / n
        sql = sum(x.statements for x in runs) / n
        tx = sum(x.transactions for x in runs) / n
        lines.append(
            f"{r.backend:<11}{name:<23}{rate:>7.0f}{rate / BackendResult.median(r.echo):>7.3f}"
            f"{cpu:>11.2f}{sql:>8.1f}{tx:>7.1f}"
        )

    for r in results:
        row(r, "echo", r.echo)
        row(r, "purchase, distinct cust.", r.purchase)
        row(r, "purchase, 1 hot cust.", r.hot)
        note = "  NEAR SATURATION: offered > 0.6 x throughput" if r.overloaded else ""
        lines.append(
            f"{r.backend:<11}{f'purchase @ {r.rate:g} upd/s':<23}{'':>40}"
            f"{1000 * percentile(r.latencies, 50):>8.1f}{1000 * percentile(r.latencies, 99):>8.1f}"
            f"  (open loop, n={len(r.latencies)}){note}"
        )
    return "\n".join(lines)


def load() -> str:
    return "load average " + load_average()


def verdict(results: list[BackendResult]) -> str:
    return ", ".join(
        f"{r.backend} {r.ratio:.3f} ({'meets' if r.ratio >= GOAL else 'below'} the {GOAL} goal)"
        for r in results
    )


def code_version() -> str:
    """The commit measured, and whether the app code had uncommitted changes."""
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "bot", "handlers", "templates"],
            cwd=root,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return "unknown commit"
    return f"commit {head or '?'}" + (
        " + uncommitted changes in bot/handlers/templates" if dirty else ""
    )


def parameters(args: argparse.Namespace) -> str:
    extra = ""
    if args.lock_holder:
        extra += f"; SQLite lock held {args.lock_hold_ms:g} ms of every {args.lock_every_ms:g} ms"
    return (
        f"N={args.updates} updates x {args.rounds} rounds, K={args.cashiers} cashiers, "
        f"{args.customers} customers; upd/s = median, CPU = process CPU (incl. driver threads)"
        + extra
    )


def record(
    results: list[BackendResult],
    args: argparse.Namespace,
    argv: Sequence[str],
    loads: tuple[str, str],
) -> None:
    entry = (
        f"\n### Run {date.today().isoformat()}: `python -m bench.purchase {' '.join(argv)}`\n\n"
        f"{machine(with_load=False)}; {code_version()}; {loads[0]} before, {loads[1]} after.\n"
        f"{parameters(args)}.\n\n"
        f"```\n{table(results)}\n```\n\n"
        f"purchase/echo: {verdict(results)}.\n"
    )
    with RESULTS.open("a", encoding="utf-8") as fh:
        fh.write(entry)


# --------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.purchase", description=__doc__.split("\n")[0])
    p.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    p.add_argument("--updates", type=int, default=500, help="updates per throughput round (N)")
    p.add_argument("--cashiers", type=int, default=8, help="concurrent cashiers (K)")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds; medians reported")
    p.add_argument("--customers", type=int, default=1000, help="seeded customers")
    p.add_argument("--hot-updates", type=int, default=150, help="one-hot-customer round (0: off)")
    p.add_argument("--rate", type=float, default=15.0, help="offered load for latency, upd/s")
    p.add_argument("--latency-seconds", type=float, default=10.0, help="open-loop duration")
    p.add_argument("--lock-holder", action="store_true", help="SQLite: another process "
                   "holds the write lock during the latency measurement (a CLI import)")
    p.add_argument("--lock-hold-ms", type=float, default=100.0)
    p.add_argument("--lock-every-ms", type=float, default=1000.0)
    p.add_argument("--profile", action="store_true", help="cProfile a purchase round instead")
    p.add_argument("--profile-updates", type=int, default=500)
    p.add_argument("--profile-top", type=int, default=25)
    p.add_argument("--pg-url", default=os.environ.get("LOYALTY_BENCH_POSTGRES_URL", DEFAULT_PG_URL))
    p.add_argument("--record", action="store_true", help="append the results to bench/RESULTS.md")
    args = p.parse_args(argv)
    if min(args.updates, args.cashiers, args.rounds, args.customers, args.rate) <= 0:
        p.error("--updates, --cashiers, --rounds, --customers and --rate must be positive")
    return args


async def run_backend(name: str, url: str, args: argparse.Namespace) -> BackendResult | None:
    started = time.perf_counter()
    h = await Harness.start(name, url, args.customers, args.cashiers)
    try:
        if args.profile:
            print(f"== {name}: {await profile(h, args)}")
            return None
        result = await measure(h, args)
    finally:
        await h.close()
    print(
        f"{name}: echo {result.median(result.echo):.0f} upd/s, purchase "
        f"{result.median(result.purchase):.0f} upd/s ({time.perf_counter() - started:.0f}s)",
        file=sys.stderr,
    )
    return result


async def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    before = load()
    if os.getloadavg()[0] > 0.5 * (os.cpu_count() or 1):
        print(f"warning: the machine is busy ({before}); figures will be noisy", file=sys.stderr)
    results: list[BackendResult] = []
    for name in backends:
        if name == "sqlite":
            async with sqlite_url() as url:
                result = await run_backend(name, url, args)
        else:
            async with postgres_url(args.pg_url) as pg:
                result = None if pg is None else await run_backend(name, pg, args)
        if result is not None:
            results.append(result)
    if not results:
        return 0
    loads = (before, load())
    print(f"\n{machine(with_load=False)}; {loads[0]} -> {loads[1]}\n{parameters(args)}")
    print(table(results))
    print(f"purchase/echo: {verdict(results)}")
    if args.record:
        record(results, args, argv, loads)
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main(sys.argv[1:])))
