"""A reproducible synthetic business for the scoring benchmark, loaded with the raw drivers.

Everything comes from one ``numpy.random.Generator`` seeded with ``--seed``, so the same
sizes and seed always give byte-identical tables:

* customers sign up over three years (more of them recently: the business grows);
  15% never buy; payment terms 20% prepayment / 70% on time / 10% late;
* purchase counts are heavy-tailed: every buyer has one purchase plus a multinomial share
  of the rest with log-normal weights (most buy a few times, a few buy hundreds of times);
* each buyer is active from a few days after sign-up until an exponential drop-out time
  (mean 500 days, cut at "now"), with purchase times uniform over that window;
* amounts are log-normal around a per-customer level (median 1,500.00), in minor units;
  1% of purchases are refunded in full and 0.5% in part;
* purchases are stored in global time order (ids grow with time, as in a live database).

Writing bypasses the ORM: ``sqlite3.executemany`` in large transactions with
``synchronous=OFF`` (the file is a cache, rebuilt on any error), and asyncpg
``copy_records_to_table`` with the timestamp codec switched to integer microseconds
(no ``datetime`` objects are created for ten million rows).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

NOW = datetime(2026, 11, 23, 3, 30, tzinfo=UTC)  # the benchmark's frozen clock
YEARS = 3
DAY_US = 86_400 * 1_000_000
OUTLETS = (("main", "Main"), ("north", "North"))
SERVICE_TAGS = np.array(["oil", "tyres", "wash", ""], dtype=object)
PAYMENT_TERMS = np.array(["prepayment", "on_time", "late"], dtype=object)
LOAD_CHUNK = 500_000
PG_EPOCH_US = int(datetime(2000, 1, 1, tzinfo=UTC).timestamp()) * 1_000_000

CUSTOMER_COLUMNS = (
    "id",
    "telegram_id",
    "name",
    "name_key",
    "language",
    "card_code",
    "consent_at",
    "consent_version",
    "balance",
    "payment_terms",
    "created_at",
    "marketing_opt_in",
)
PURCHASE_COLUMNS = (
    "id",
    "customer_id",
    "author_tg_id",
    "outlet_code",
    "amount",
    "refunded_amount",
    "service_tag",
    "points_earned",
    "points_redeemed",
    "created_at",
    "created_ts",
)


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM; ru_maxrss would include the parent's,
    since Linux keeps it across fork + exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


@dataclass
class Business:
    """Column arrays; times are integer microseconds since the Unix epoch (UTC)."""

    customer_created_us: NDArray[np.int64]
    payment_terms: NDArray[np.int8]
    language_en: NDArray[np.bool_]
    opt_in: NDArray[np.bool_]
    purchase_customer: NDArray[np.int64]  # customer id (1-based), in time order
    purchase_us: NDArray[np.int64]
    amount_minor: NDArray[np.int64]
    refunded_minor: NDArray[np.int64]
    author: NDArray[np.int64]
    outlet: NDArray[np.int8]
    service: NDArray[np.int8]

    @property
    def customers(self) -> int:
        return int(self.customer_created_us.size)

    @property
    def purchases(self) -> int:
        return int(self.purchase_us.size)


def generate(customers: int, purchases: int, seed: int) -> Business:
    """The whole synthetic history; about 2 s and 1 GB per ten million purchases."""
    rng = np.random.default_rng(seed)
    now_us = int(NOW.timestamp()) * 1_000_000
    span_us = YEARS * 365 * DAY_US
    start_us = now_us - span_us
    signup = start_us + (span_us * rng.random(customers) ** 0.7).astype(np.int64)
    payment = rng.choice(3, size=customers, p=[0.2, 0.7, 0.1]).astype(np.int8)
    language_en = rng.random(customers) < 0.1
    opt_in = rng.random(customers) < 0.4

    buyers = np.flatnonzero(rng.random(customers) < 0.85)
    if purchases < buyers.size:
        buyers = np.sort(rng.choice(buyers, size=purchases, replace=False))
    weights = rng.lognormal(0.0, 1.1, size=buyers.size)
    counts = np.ones(buyers.size, dtype=np.int64)
    if buyers.size:
        counts += rng.multinomial(purchases - buyers.size, weights / weights.sum())
    first = signup[buyers] + (rng.exponential(3.0, buyers.size) * DAY_US).astype(np.int64)
    first = np.minimum(first, now_us - 60_000_000)
    last = np.minimum(
        first + (rng.exponential(500.0, buyers.size) * DAY_US).astype(np.int64), now_us
    )
    level = rng.lognormal(np.log(1500.0), 0.6, size=buyers.size)

    owner = np.repeat(np.arange(buyers.size), counts)
    when = first[owner] + ((last - first)[owner] * rng.random(purchases)).astype(np.int64)
    amount = np.maximum(
        np.rint(level[owner] * rng.lognormal(0.0, 0.5, size=purchases) * 100.0), 100
    ).astype(np.int64)
    refunded = np.zeros(purchases, dtype=np.int64)
    luck = rng.random(purchases)
    refunded[luck < 0.01] = amount[luck < 0.01]
    partial = (luck >= 0.01) & (luck < 0.015)
    refunded[partial] = np.rint(amount[partial] * rng.uniform(0.1, 0.9, int(partial.sum())))
    author = 700_000_000 + rng.integers(0, 20, size=purchases)
    outlet = (rng.random(purchases) < 0.3).astype(np.int8)
    service = rng.integers(0, SERVICE_TAGS.size, size=purchases).astype(np.int8)

    order = np.argsort(when)  # ids grow with time (deterministic for the same input)
    return Business(
        customer_created_us=signup,
        payment_terms=payment,
        language_en=language_en,
        opt_in=opt_in,
        purchase_customer=(buyers[owner] + 1)[order],
        purchase_us=when[order],
        amount_minor=amount[order],
        refunded_minor=refunded[order],
        author=author[order],
        outlet=outlet[order],
        service=service[order],
    )


def sqlite_times(us: NDArray[np.int64]) -> list[str]:
    """SQLAlchemy's SQLite DATETIME text ('YYYY-MM-DD HH:MM:SS.ffffff'), vectorised."""
    text = np.datetime_as_string(us.astype("datetime64[us]"), unit="us")
    codes = text.view(np.uint32).reshape(text.size, -1).copy()
    codes[:, 10] = ord(" ")
    return codes.view(text.dtype).ravel().tolist()


def _customer_chunks(biz: Business, sqlite: bool) -> Iterator[list[tuple[Any, ...]]]:
    for lo in range(0, biz.customers, LOAD_CHUNK):
        hi = min(lo + LOAD_CHUNK, biz.customers)
        ids = np.arange(lo + 1, hi + 1)
        created = biz.customer_created_us[lo:hi]
        names = [f"Customer {i}" for i in ids.tolist()]
        times: list[Any] = sqlite_times(created) if sqlite else (created - PG_EPOCH_US).tolist()
        yield list(
            zip(
                ids.tolist(),
                (ids + 5_000_000_000).tolist(),
                names,
                [n.casefold() for n in names],
                np.where(biz.language_en[lo:hi], "en", "ru").tolist(),
                [f"B{i:010d}" for i in ids.tolist()],
                times,
                ["2026-01"] * (hi - lo),
                np.zeros(hi - lo, dtype=np.int64).tolist(),
                PAYMENT_TERMS[biz.payment_terms[lo:hi]].tolist(),
                times,
                biz.opt_in[lo:hi].tolist(),
                strict=True,
            )
        )


def _purchase_chunks(biz: Business, sqlite: bool) -> Iterator[list[tuple[Any, ...]]]:
    outlets = np.array([code for code, _ in OUTLETS], dtype=object)
    tags = SERVICE_TAGS.copy()
    tags[tags == ""] = None
    for lo in range(0, biz.purchases, LOAD_CHUNK):
        hi = min(lo + LOAD_CHUNK, biz.purchases)
        us = biz.purchase_us[lo:hi]
        amount = biz.amount_minor[lo:hi]
        times: list[Any] = sqlite_times(us) if sqlite else (us - PG_EPOCH_US).tolist()
        yield list(
            zip(
                range(lo + 1, hi + 1),
                biz.purchase_customer[lo:hi].tolist(),
                biz.author[lo:hi].tolist(),
                outlets[biz.outlet[lo:hi]].tolist(),
                amount.tolist(),
                biz.refunded_minor[lo:hi].tolist(),
                tags[biz.service[lo:hi]].tolist(),
                (amount // 2000).tolist(),  # 5% of the amount in whole units, as points
                [0] * (hi - lo),
                times,
                (us // 1_000_000).tolist(),  # created_ts: whole Unix seconds
                strict=True,
            )
        )


def load_sqlite(path: str, biz: Business) -> None:
    """Fill a migrated SQLite file (empty tables) straight through the sqlite3 module."""
    con = sqlite3.connect(path, isolation_level=None)
    try:
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=OFF")
        con.execute("PRAGMA cache_size=-1000000")
        con.execute("BEGIN")
        con.executemany("INSERT INTO outlets (code, name) VALUES (?, ?)", OUTLETS)
        sql = "INSERT INTO {} ({}) VALUES ({})"
        for table, columns, chunks in (
            ("customers", CUSTOMER_COLUMNS, _customer_chunks(biz, sqlite=True)),
            ("purchases", PURCHASE_COLUMNS, _purchase_chunks(biz, sqlite=True)),
        ):
            stmt = sql.format(table, ", ".join(columns), ", ".join("?" * len(columns)))
            for rows in chunks:
                con.executemany(stmt, rows)
        con.execute("COMMIT")
        con.execute("ANALYZE")
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        con.close()


async def load_postgres(dsn: str, biz: Business) -> None:
    """COPY into a migrated PostgreSQL database; FK triggers off during the load only."""
    import asyncpg

    con = await asyncpg.connect(dsn)
    try:
        await con.set_type_codec(
            "timestamptz",
            schema="pg_catalog",
            encoder=lambda us: (us,),
            decoder=lambda t: t[0],
            format="tuple",
        )
        await con.execute("SET session_replication_role = replica")
        await con.copy_records_to_table("outlets", records=list(OUTLETS), columns=["code", "name"])
        for table, columns, chunks in (
            ("customers", CUSTOMER_COLUMNS, _customer_chunks(biz, sqlite=False)),
            ("purchases", PURCHASE_COLUMNS, _purchase_chunks(biz, sqlite=False)),
        ):
            for rows in chunks:
                await con.copy_records_to_table(table, records=rows, columns=list(columns))
        await con.execute("SET session_replication_role = DEFAULT")
        for table in ("customers", "purchases"):
            await con.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT max(id) FROM {table}))"
            )
        await con.execute("VACUUM (ANALYZE) customers")
        await con.execute("VACUUM (ANALYZE) purchases")
    finally:
        await con.close()
