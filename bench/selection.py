"""Benchmark: the daily selection pass of the scheduled jobs over a million customers.

``python -m bench.selection [--customers 1000000] [--pg-url URL] [--record]``

What is timed is ``bot.services.jobs.selection.selection_pass`` -- the candidate queries of
birthdays (today's, 29 February folded in), service reminders (two rules: oil by days and
km, tyres by days), trade-in (car age from the profile, projected mileage from the newest
reading) and win-back (own interval or P(alive) from customer_scores) -- selection only,
nothing sent. Each backend runs it with migration 0015's indexes (median of 3 runs), then
drops those indexes and runs it again as the baseline, in the same run. Goal: <= 10 s each
with the indexes (issue 11, Benchmark).

Synthetic data (one seeded ``numpy`` generator): customers signed up over three years, 90%
signed up for marketing, birthdays uniform over 1950-2008, a car (year 2005-2025, a
sign-up mileage) in the profile; two purchases per customer on average over three years,
tagged oil 35% / tyres 25% / wash 20% / none 20%; a visit per two customers; a mileage
reading at sign-up and for 30% a later one; one customer_scores row each. A day in the
life: everyone who qualified for trade-in or this window's win-back before today already
has their campaign membership, except 0.2% at random (today's new ones). Loaded with the raw drivers
(sqlite3 executemany, asyncpg COPY), like bench/scoring_data.py. PostgreSQL runs in a
scratch database that is dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bench.common import scratch_postgres_blocking
from bench.scoring import machine, postgres_version
from bench.scoring_data import PG_EPOCH_US, sqlite_times
from bot.config import Settings, settings_from_dict
from bot.db.engine import create_database
from bot.db.migrate import upgrade
from bot.services.jobs.common import local_today, window_start
from bot.services.jobs.selection import selection_pass

NOW = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)  # 10:00 in Moscow
DAY_US = 86_400 * 1_000_000
NOW_US = int(NOW.timestamp()) * 1_000_000
CHUNK = 250_000
GOAL_SECONDS = 10.0
JOBS = ("birthday", "reminders", "tradein", "winback")
PG_DATE_EPOCH = date(2000, 1, 1).toordinal()
INDEXES_0015 = {
    "ix_customers_birthday": "customers (birthday)",
    "ix_purchases_tag_created": "purchases (service_tag, created_ts, customer_id)",
    "ix_purchases_customer_tag": "purchases (customer_id, service_tag, created_ts)",
    "ix_visits_tag_created": "visits (service_tag, created_ts, customer_id)",
    "ix_visits_customer_tag": "visits (customer_id, service_tag, created_ts)",
}
TAGS = np.array(["oil", "tyres", "wash", None], dtype=object)
MAKES = [("LADA", "Vesta"), ("Kia", "Rio"), ("Hyundai", "Solaris"), ("Toyota", "Camry")]
RULES = [
    {"tag": "oil", "days": 180, "km": 10000, "service": {"ru": "замену масла", "en": "oil"},
     "offer": {"kind": "percent", "value": "15"}},
    {"tag": "tyres", "days": 180, "service": {"ru": "шиномонтаж", "en": "tyres"}},
]  # fmt: skip


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def settings_for(url: str) -> Settings:
    return settings_from_dict(
        {
            "business": {"name": "Bench Garage", "timezone": "Europe/Moscow"},
            "loyalty": {"service_tags": ["oil", "tyres", "wash"]},
            "database": {"url": url},
            "reminders": {"rules": RULES},
        },
        use_env=False,
    )


class Data:
    """Every table's rows as column arrays (times in Unix microseconds)."""

    def __init__(self, customers: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        n = customers
        self.n = n
        self.created = NOW_US - rng.integers(1, 3 * 365, n) * DAY_US
        self.opt_in = rng.random(n) < 0.9
        first, last = date(1950, 1, 1).toordinal(), date(2008, 12, 31).toordinal()
        self.birthday = rng.integers(first, last + 1, n)
        self.car = rng.integers(0, len(MAKES), n)
        self.year = rng.integers(2005, 2026, n)
        self.mileage = rng.integers(0, 250_000, n)
        # purchases: two a customer on average, uniform over each customer's time with us
        p = 2 * n
        self.p_customer = rng.integers(1, n + 1, p)
        span = NOW_US - self.created[self.p_customer - 1]
        self.p_time = self.created[self.p_customer - 1] + (rng.random(p) * span).astype(np.int64)
        self.p_tag = rng.choice(4, p, p=[0.35, 0.25, 0.2, 0.2])
        self.p_amount = rng.integers(50_000, 1_000_000, p)
        v = n // 2
        self.v_customer = rng.integers(1, n + 1, v)
        vspan = NOW_US - self.created[self.v_customer - 1]
        self.v_time = self.created[self.v_customer - 1] + (rng.random(v) * vspan).astype(np.int64)
        self.v_tag = rng.choice(3, v)
        # readings: one at sign-up, 30% a later one (about 1,250 km a month)
        later = np.flatnonzero(rng.random(n) < 0.3)
        self.r_customer = np.concatenate([np.arange(1, n + 1), later + 1])
        self.r_time = np.concatenate(
            [self.created, self.created[later] + (NOW_US - self.created[later]) // 2]
        )
        months = (self.r_time[n:] - self.created[later]) / (30.436875 * DAY_US)
        grown = self.mileage[later] + (1250 * months).astype(int)
        self.r_km = np.concatenate([self.mileage, grown])
        self.r_run = np.full(self.r_customer.size, 1250)
        # scores
        self.s_purchases = rng.integers(1, 12, n)
        self.s_first = rng.integers(0, 3 * 365, n)
        self.s_last = (self.s_first * rng.random(n)).astype(int)
        self.s_alive = rng.random(n)
        # a day in the life: yesterday's pass already enrolled everyone who qualified then,
        # so today's candidates are the few who crossed since (about 0.2%, at random)
        fresh = rng.random(n) < 0.002
        old_car = (self.year <= NOW.year - 7) | (self.mileage >= 140_000)
        self.tradein_done = np.flatnonzero(old_car & ~fresh) + 1
        since_last = self.s_last + 0.5
        drifting = (self.s_purchases >= 2) & (since_last >= 45) & (
            since_last * (self.s_purchases - 1) > 2.0 * (self.s_first - self.s_last)
        ) | ((self.s_alive < 0.3) & (since_last >= 45))
        self.winback_done = np.flatnonzero(drifting & ~fresh) + 1

    def _times(self, us: Any, sqlite: bool) -> list[Any]:
        return sqlite_times(us) if sqlite else (us - PG_EPOCH_US).tolist()

    def tables(self, sqlite: bool) -> Iterator[tuple[str, tuple[str, ...], list[tuple[Any, ...]]]]:
        n = self.n
        for lo in range(0, n, CHUNK):
            hi = min(lo + CHUNK, n)
            ids = list(range(lo + 1, hi + 1))
            times = self._times(self.created[lo:hi], sqlite)
            births = self.birthday[lo:hi].tolist()
            profiles = [
                json.dumps({"make": MAKES[c][0], "model": MAKES[c][1], "year": y, "mileage": m})
                for c, y, m in zip(
                    self.car[lo:hi].tolist(),
                    self.year[lo:hi].tolist(),
                    self.mileage[lo:hi].tolist(),
                    strict=True,
                )
            ]
            yield (
                "customers",
                ("id", "telegram_id", "name", "language", "card_code", "consent_at", "balance",
                 "payment_terms", "created_at", "marketing_opt_in", "birthday", "profile"),
                list(zip(ids, [i + 5_000_000_000 for i in ids], [f"C{i}" for i in ids],
                         ["ru"] * len(ids), [f"B{i:010d}" for i in ids], times, [0] * len(ids),
                         ["on_time"] * len(ids), times, self.opt_in[lo:hi].tolist(),
                         [date.fromordinal(b).isoformat() for b in births] if sqlite
                         else [b - PG_DATE_EPOCH for b in births],
                         profiles, strict=True)),
            )  # fmt: skip
        for lo in range(0, self.p_customer.size, CHUNK):
            hi = min(lo + CHUNK, self.p_customer.size)
            us = self.p_time[lo:hi]
            yield (
                "purchases",
                ("id", "customer_id", "author_tg_id", "outlet_code", "amount", "refunded_amount",
                 "service_tag", "points_earned", "points_redeemed", "created_at", "created_ts"),
                list(zip(range(lo + 1, hi + 1), self.p_customer[lo:hi].tolist(), [1] * (hi - lo),
                         ["main"] * (hi - lo), self.p_amount[lo:hi].tolist(), [0] * (hi - lo),
                         TAGS[self.p_tag[lo:hi]].tolist(), [0] * (hi - lo), [0] * (hi - lo),
                         self._times(us, sqlite), (us // 1_000_000).tolist(), strict=True)),
            )  # fmt: skip
        for lo in range(0, self.v_customer.size, CHUNK):
            hi = min(lo + CHUNK, self.v_customer.size)
            yield (
                "visits",
                ("id", "customer_id", "author_tg_id", "outlet_code", "service_tag", "created_at",
                 "created_ts"),
                list(zip(range(lo + 1, hi + 1), self.v_customer[lo:hi].tolist(), [1] * (hi - lo),
                         ["main"] * (hi - lo), TAGS[self.v_tag[lo:hi]].tolist(),
                         self._times(self.v_time[lo:hi], sqlite),
                         (self.v_time[lo:hi] // 1_000_000).tolist(), strict=True)),
            )  # fmt: skip
        for lo in range(0, self.r_customer.size, CHUNK):
            hi = min(lo + CHUNK, self.r_customer.size)
            us = self.r_time[lo:hi]
            yield (
                "mileage_reports",
                ("id", "customer_id", "km", "reported_at", "reported_ts", "monthly_km"),
                list(zip(range(lo + 1, hi + 1), self.r_customer[lo:hi].tolist(),
                         self.r_km[lo:hi].tolist(), self._times(us, sqlite),
                         (us // 1_000_000).tolist(), self.r_run[lo:hi].tolist(), strict=True)),
            )  # fmt: skip
        computed = self._times(np.array([NOW_US - DAY_US // 2]), sqlite)[0]
        for lo in range(0, n, CHUNK):
            hi = min(lo + CHUNK, n)
            k = hi - lo
            yield (
                "customer_scores",
                ("customer_id", "computed_at", "purchases", "total_spend", "average_check",
                 "days_since_first", "days_since_last", "recency", "frequency", "monetary",
                 "segment", "lifecycle", "lapsed", "value", "strategy", "service", "p_alive",
                 "clv_method"),
                list(zip(range(lo + 1, hi + 1), [computed] * k, self.s_purchases[lo:hi].tolist(),
                         [100_000] * k, [50_000] * k, self.s_first[lo:hi].tolist(),
                         self.s_last[lo:hi].tolist(), [3] * k, [3] * k, [3] * k, ["x"] * k,
                         ["repeat"] * k, [False] * k, ["medium"] * k, ["manage"] * k,
                         ["standard"] * k, self.s_alive[lo:hi].tolist(), ["mbg_nbd"] * k,
                         strict=True)),
            )  # fmt: skip
        created = self._times(np.array([NOW_US - 30 * DAY_US]), sqlite)[0]
        yield (
            "campaigns",
            ("id", "kind", "name", "holdout_percent", "state", "created_at"),
            [
                (1, "job", "tradein", 10, "active", created),
                (2, "job", "winback", 10, "active", created),
            ],
        )
        window = window_start(90, local_today(settings_for("sqlite+aiosqlite://"), NOW)).isoformat()
        members = [(c, 1, "once") for c in self.tradein_done.tolist()]
        members += [(c, 2, window) for c in self.winback_done.tolist()]
        yield (
            "campaign_members",
            ("id", "customer_id", "campaign_id", "occurrence", "held_out", "enrolled_at"),
            [(i + 1, c, k, occ, False, created) for i, (c, k, occ) in enumerate(members)],
        )


def load_sqlite(path: Path, data: Data) -> None:
    con = sqlite3.connect(path, isolation_level=None)
    try:
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=OFF")
        con.execute("BEGIN")
        con.execute("INSERT INTO outlets (code, name) VALUES ('main', 'Main')")
        for table, columns, rows in data.tables(sqlite=True):
            marks = ", ".join("?" * len(columns))
            con.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)
        con.execute("COMMIT")
        con.execute("ANALYZE")
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        con.close()


async def load_postgres(dsn: str, data: Data) -> None:
    import asyncpg

    con = await asyncpg.connect(dsn)
    try:
        for kind in ("timestamptz", "date"):
            await con.set_type_codec(
                kind, schema="pg_catalog", encoder=lambda v: (v,), decoder=lambda t: t[0],
                format="tuple",
            )  # fmt: skip
        await con.execute("SET session_replication_role = replica")
        await con.execute("INSERT INTO outlets (code, name) VALUES ('main', 'Main')")
        for table, columns, rows in data.tables(sqlite=False):
            await con.copy_records_to_table(table, records=rows, columns=list(columns))
        await con.execute("SET session_replication_role = DEFAULT")
        await con.execute("ANALYZE")
    finally:
        await con.close()


async def timed_pass(
    url: str, runs: int
) -> tuple[list[float], dict[str, int], list[dict[str, float]]]:
    settings = settings_for(url)
    db = create_database(url)
    seconds: list[float] = []
    parts: list[dict[str, float]] = []
    counts: dict[str, int] = {}
    try:
        for _ in range(runs):
            started = time.perf_counter()
            laps: dict[str, float] = {}
            async with db.read() as session:
                counts = await selection_pass(
                    session, settings, NOW, {"tradein": 1, "winback": 2}, laps
                )
            seconds.append(time.perf_counter() - started)
            parts.append(laps)
    finally:
        await db.dispose()
    return seconds, counts, parts


async def drop_indexes(url: str) -> None:
    db = create_database(url)
    try:
        async with db.engine.begin() as conn:
            for name in INDEXES_0015:
                await conn.execute(text(f"DROP INDEX {name}"))
            await conn.execute(text("ANALYZE"))
    finally:
        await db.dispose()


def measure(backend: str, url: str, runs: int) -> dict[str, Any]:
    with_idx, counts, parts = asyncio.run(timed_pass(url, runs))
    log(f"{backend}: with the 0015 indexes {[round(s, 2) for s in with_idx]} s; {counts}")
    asyncio.run(drop_indexes(url))
    without, counts_without, parts_without = asyncio.run(timed_pass(url, 1))
    log(f"{backend}: without them {without[0]:.2f} s")
    assert counts_without == counts, "the baseline must select the same customers"
    median = sorted(range(runs), key=lambda i: with_idx[i])[runs // 2]
    return {"backend": backend, "with": statistics.median(with_idx), "runs": with_idx,
            "without": without[0], "counts": counts, "parts": parts[median],
            "parts_without": parts_without[0]}  # fmt: skip


def bench_sqlite(data: Data, runs: int) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="selection_"))
    path = folder / "selection.db"
    try:
        upgrade(f"sqlite+aiosqlite:///{path}")
        started = time.perf_counter()
        load_sqlite(path, data)
        log(f"sqlite: loaded in {time.perf_counter() - started:.1f} s")
        result = measure("sqlite", f"sqlite+aiosqlite:///{path}", runs)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    result["version"] = sqlite3.sqlite_version
    return result


def bench_postgres(data: Data, pg_url: str, runs: int) -> dict[str, Any] | None:
    version = postgres_version(pg_url)
    if version is None:
        return None
    with scratch_postgres_blocking(pg_url, "loyalty_selection") as url:
        dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        started = time.perf_counter()
        asyncio.run(load_postgres(dsn, data))
        log(f"postgresql: loaded in {time.perf_counter() - started:.1f} s")
        result = measure("postgresql", url, runs)
    result["version"] = version
    return result


def report(results: list[dict[str, Any]], args: argparse.Namespace) -> str:
    info = machine()
    lines = [
        f"### {date.today().isoformat()}: daily selection pass, {args.customers:,} customers "
        f"(seed {args.seed})",
        "",
        f"Machine: {info['cpus']} CPUs ({info['cpu']}), Python {info['python']}. "
        "`python -m bench.selection --record`. Selection only (birthdays, reminders for "
        "two rules, trade-in, win-back), nothing sent; median of the runs with migration "
        "0015's indexes, then the same pass with them dropped (baseline).",
        "",
        "| backend | with the indexes | runs | baseline without them | goal <= 10 s |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        runs = ", ".join(f"{s:.2f}" for s in r["runs"])
        met = "met" if r["with"] <= GOAL_SECONDS else "NOT met"
        lines.append(
            f"| {r['backend']} {r['version']} | {r['with']:.2f} s | {runs} | "
            f"{r['without']:.2f} s | {met} |"
        )
    lines += ["", "Per job, the median run with the indexes / the baseline (candidates):", ""]
    lines += ["| backend | " + " | ".join(JOBS) + " |", "|---|" + "---|" * len(JOBS)]
    for r in results:
        cells = [
            f"{r['parts'][job]:.2f} / {r['parts_without'][job]:.2f} s ({r['counts'][job]:,})"
            for job in JOBS
        ]
        lines.append(f"| {r['backend']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=20261126)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--pg-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--record", action="store_true", help="append to bench/RESULTS.md")
    args = parser.parse_args()
    started = time.perf_counter()
    data = Data(args.customers, args.seed)
    log(f"generated {args.customers:,} customers in {time.perf_counter() - started:.1f} s")
    results = [bench_sqlite(data, args.runs)]
    if not args.no_postgres:
        pg = bench_postgres(data, args.pg_url, args.runs)
        if pg is not None:
            results.append(pg)
    text_ = report(results, args)
    print(text_)
    if args.record:
        path = Path(__file__).with_name("RESULTS.md")
        path.write_text(path.read_text(encoding="utf-8").rstrip("\n") + "\n\n" + text_)


if __name__ == "__main__":
    main()
