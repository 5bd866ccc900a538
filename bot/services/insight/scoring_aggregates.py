"""Per-customer purchase aggregates for the scoring job, grouped by the database.

One GROUP BY over the live purchases (not fully refunded), walking the covering index
``ix_purchases_scoring`` in customer order, gives per customer: purchases, distinct
purchase days, net spend, net spend on the first purchase day (Gamma-Gamma's repeat
spend is the rest), first and last purchase day, net spend in the trailing 12 calendar
months (the strategy's "profitable now") and, when the rating scale is on, net spend in
each of those months (conditional sums in the same pass). A
second query lists every customer with the sign-up time and payment terms; two more sum
what the programme gave each customer, all time and in the trailing 12 months
(``bot.services.money.programme_costs``: points given, offer discounts).

Days are the business's local calendar days, numbered from 1970-01-01
(``bot.services.local_days``: daylight saving included).

Rows are read with the raw driver, not SQLAlchemy's result objects, and go straight into
numpy arrays: SQLite's cursor in chunks (aiosqlite runs it on its own thread, so the
event loop keeps serving updates), PostgreSQL by a binary COPY parsed with one numpy
view. Every selected value is a non-NULL integer, which is what makes both possible.
"""

from __future__ import annotations

import asyncio
import io
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import BigInteger, case, cast, func, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import aliased
from sqlalchemy.sql import Select
from sqlalchemy.sql.elements import ColumnElement

from bot.db.models import Customer, LedgerEntry, Offer, Purchase, unix_seconds
from bot.money import MINOR_PER_UNIT
from bot.services.local_days import DAY_S, LocalDays, sql_int
from bot.services.money.live_purchases import IS_LIVE, NET_MINOR, is_live_of, net_minor_of
from bot.services.money.programme_costs import discounts_statement, points_statement
from scoring.calendar import add_months

if TYPE_CHECKING:  # numpy loads on first use, not with the bot's start
    import numpy as np
    from numpy.typing import NDArray

    from scoring.customer_scores import PurchaseHistory

RATING_MONTHS = 12
FETCH_CHUNK = 50_000
MONTHS_FROM = 8  # index of the first trailing-month column in purchases_statement


def unix_seconds_sql(conn: AsyncConnection, column: Any) -> ColumnElement[int]:
    """A datetime column as whole Unix seconds (fraction cut off), on either backend.

    SQLite keeps 'YYYY-MM-DD HH:MM:SS.ffffff' text, and its strftime('%s') would round
    the fraction, so only the first 19 characters are read.
    """
    if conn.dialect.name == "sqlite":
        return cast(func.strftime("%s", func.substr(column, 1, 19)), BigInteger)
    return cast(func.floor(func.extract("epoch", column)), BigInteger)


def trailing_month_bounds(now: datetime, days: LocalDays) -> list[int]:
    """Unix seconds of the 13 edges of the trailing 12 calendar months, oldest first.

    Month k runs from ``now`` moved back 12 - k calendar months in the business's local
    time (``scoring.calendar.add_months``) to the next edge; the last one ends at ``now``.
    """
    local = now.astimezone(days.zone)
    return [unix_seconds(add_months(local, k - RATING_MONTHS)) for k in range(RATING_MONTHS + 1)]


def first_day_spend(days: LocalDays) -> ColumnElement[int]:
    """Net spend on the customer's first purchase day, inside the GROUP BY customer.

    A correlated subquery per customer (not per purchase): it reads the outer group's
    first purchase time and seeks the index over the two days after it, keeping only the
    rows on the same local day. The GROUP BY itself still walks the index once, unsorted.
    """
    same = aliased(Purchase)
    first_ts = func.min(Purchase.created_ts)
    return (
        select(func.coalesce(func.sum(net_minor_of(same)), sql_int(0)))
        .where(
            same.customer_id == Purchase.customer_id,
            same.created_ts >= first_ts,
            same.created_ts < first_ts + sql_int(2 * DAY_S),
            days.day_sql(same.created_ts) == days.day_sql(first_ts),
            is_live_of(same),
        )
        .scalar_subquery()
    )


def purchases_statement(
    now: datetime, days: LocalDays, with_months: bool, *, windowed: bool = False
) -> Select[Any]:
    """The one GROUP BY over purchases (see the module docstring for the columns).

    The first day's spend comes from ``first_day_spend`` (an index seek per customer:
    SQLite, whose GROUP BY would otherwise need a sort) or, ``windowed``, from the first
    purchase day as a window over each customer's rows (PostgreSQL, which sorts for the
    GROUP BY anyway and keeps that order through the window: cheaper than a seek each).
    """
    if windowed:
        rows = (
            select(
                Purchase.customer_id.label("customer_id"),
                Purchase.created_ts.label("ts"),
                days.day_sql(Purchase.created_ts).label("day"),
                NET_MINOR.label("net"),
            )
            .where(IS_LIVE)
            .subquery("live")
        )
        first = func.min(rows.c.day).over(partition_by=rows.c.customer_id).label("first_day")
        live = select(*rows.c, first).subquery("live_rows")
        customer, ts, day, net = live.c.customer_id, live.c.ts, live.c.day, live.c.net
        first_day = cast(
            func.sum(case((day == live.c.first_day, net), else_=sql_int(0))), BigInteger
        )
    else:
        customer, ts, net = Purchase.customer_id, Purchase.created_ts, NET_MINOR
        day = days.day_sql(ts)
        first_day = first_day_spend(days)
    columns: list[ColumnElement[Any]] = [
        customer,
        func.count(),
        func.count(func.distinct(day)),
        cast(func.sum(net), BigInteger),
        func.min(day),
        func.max(day),
        first_day,
    ]
    bounds = trailing_month_bounds(now, days)
    year = (ts >= sql_int(bounds[0])) & (ts <= sql_int(bounds[-1]))
    columns.append(cast(func.sum(case((year, net), else_=sql_int(0))), BigInteger))
    if with_months:
        for k in range(RATING_MONTHS):
            last = k == RATING_MONTHS - 1
            upper = ts <= sql_int(bounds[k + 1]) if last else ts < sql_int(bounds[k + 1])
            within = (ts >= sql_int(bounds[k])) & upper
            columns.append(cast(func.sum(case((within, net), else_=sql_int(0))), BigInteger))
    stmt = select(*columns)
    return (stmt if windowed else stmt.where(IS_LIVE)).group_by(customer)


def customers_statement(conn: AsyncConnection, terms: list[str]) -> Select[Any]:
    """Every customer: id, sign-up Unix seconds, payment terms as an index into ``terms``."""
    code = (
        case(
            *((Customer.payment_terms == name, sql_int(i)) for i, name in enumerate(terms)),
            else_=sql_int(-1),
        )
        if terms
        else sql_int(-1)
    )
    return select(Customer.id, unix_seconds_sql(conn, Customer.created_at), code).order_by(
        Customer.id
    )


async def fetch_int64(conn: AsyncConnection, stmt: Select[Any]) -> NDArray[np.int64]:
    """A query whose every value is a non-NULL integer, as a (rows x columns) array.

    Runs on ``conn``'s own driver connection, so inside its transaction if one is open.
    """
    import numpy as np

    width = len(stmt.selected_columns)
    if conn.dialect.name == "postgresql":  # every column as int8, the layout COPY parsing reads
        stmt = stmt.with_only_columns(
            *(cast(c, BigInteger).label(f"c{i}") for i, c in enumerate(stmt.selected_columns)),
            maintain_column_froms=True,
        )
    sql = str(stmt.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
    raw = await conn.get_raw_connection()
    driver = raw.driver_connection
    if conn.dialect.name == "postgresql":
        buffer = io.BytesIO()

        async def write(chunk: bytes) -> None:  # asyncpg wants a coroutine function here
            buffer.write(chunk)

        await driver.copy_from_query(sql, output=write, format="binary")
        return await asyncio.to_thread(parse_binary_copy, buffer.getvalue(), width)
    parts = [np.zeros((0, width), dtype=np.int64)]
    cursor = await driver.execute(sql)
    try:
        while rows := await cursor.fetchmany(FETCH_CHUNK):
            parts.append(np.array(rows, dtype=np.int64).reshape(-1, width))
    finally:
        await cursor.close()
    return np.concatenate(parts)


COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"


def parse_binary_copy(data: bytes, width: int) -> NDArray[np.int64]:
    """PostgreSQL's binary COPY output of ``width`` non-NULL int8 columns, as an array.

    Layout: the 11-byte signature, int32 flags, int32 length of a header extension and
    the extension; per row an int16 field count and, per field, an int32 length and the
    big-endian value; an int16 -1 trailer. Anything else is refused, never guessed at.
    """
    import numpy as np

    if data[: len(COPY_SIGNATURE)] != COPY_SIGNATURE or len(data) < 21:
        raise ValueError("not PostgreSQL binary COPY output")
    extension = int.from_bytes(data[15:19], "big")
    start = 19 + extension
    fields: list[tuple[str, str]] = [("count", ">i2")]
    for i in range(width):
        fields += [(f"len{i}", ">i4"), (f"v{i}", ">i8")]
    row = np.dtype(fields)
    body = len(data) - start - 2
    if body < 0 or body % row.itemsize or data[-2:] != b"\xff\xff":
        raise ValueError("COPY rows are not all non-NULL int8 values")
    table = np.frombuffer(data, dtype=row, count=body // row.itemsize, offset=start)
    if not (
        np.all(table["count"] == width) and all(np.all(table[f"len{i}"] == 8) for i in range(width))
    ):
        raise ValueError("COPY rows are not all non-NULL int8 values")
    result = np.empty((table.size, width), dtype=np.int64)
    for i in range(width):
        result[:, i] = table[f"v{i}"]
    return result


def _spread_by_customer(
    customer_id: NDArray[np.int64], rows: NDArray[np.int64]
) -> tuple[NDArray[np.intp], NDArray[np.int64]]:
    """Where each row's customer (column 0) sits in ``customer_id``, and the rows kept
    (a customer who appeared after the customer list was read is left out)."""
    import numpy as np

    n = customer_id.size
    where = np.minimum(np.searchsorted(customer_id, rows[:, 0]), max(n - 1, 0))
    known = customer_id[where] == rows[:, 0] if n else np.zeros(rows.shape[0], dtype=bool)
    return (where, rows) if known.all() else (where[known], rows[known])


async def programme_given(
    conn: AsyncConnection, customer_id: NDArray[np.int64], since_ts: int
) -> NDArray[np.int64]:
    """(customers x 4): points given all time and since ``since_ts``, offer discounts
    (minor units) all time and since, per customer (``programme_costs``)."""
    import numpy as np

    given = np.zeros((customer_id.size, 4), dtype=np.int64)
    ledger_ts = unix_seconds_sql(conn, LedgerEntry.created_at)
    offer_ts = unix_seconds_sql(conn, Offer.used_at)
    for first, stmt in (
        (0, points_statement(ledger_ts, since_ts)),
        (2, discounts_statement(offer_ts, since_ts)),
    ):
        at, rows = _spread_by_customer(customer_id, await fetch_int64(conn, stmt))
        given[at, first : first + 2] = rows[:, 1:3]
    return given


async def aggregate(
    conn: AsyncConnection,
    now: datetime,
    days: LocalDays,
    *,
    with_months: bool,
    point_value: float = 0.0,
) -> PurchaseHistory:
    """Every customer's aggregates; customers without live purchases get 0 / NaN rows.

    ``point_value`` (money per point) prices the points the programme gave.
    All the queries read one snapshot: SQLite's read transaction begins with the first
    of them (``conn`` has not run anything yet), PostgreSQL's is REPEATABLE READ.
    """
    import numpy as np

    from scoring.customer_scores import PurchaseHistory

    if conn.dialect.name == "postgresql":
        await conn.execution_options(isolation_level="REPEATABLE READ")
    terms = sorted(
        str(t) for t in (await conn.execute(select(Customer.payment_terms).distinct())).scalars()
    )
    people = await fetch_int64(conn, customers_statement(conn, terms))
    customer_id = np.ascontiguousarray(people[:, 0])
    n = customer_id.size
    windowed = conn.dialect.name == "postgresql"
    bought = await fetch_int64(conn, purchases_statement(now, days, with_months, windowed=windowed))
    at, rows = _spread_by_customer(customer_id, bought)
    given = await programme_given(conn, customer_id, trailing_month_bounds(now, days)[0])

    def spread(column: int, empty: float, dtype: Any) -> NDArray[Any]:
        values = np.full(n, empty, dtype=dtype)
        values[at] = rows[:, column]
        return values

    monthly = None
    if with_months:
        monthly = np.zeros((n, RATING_MONTHS), dtype=np.int64)
        monthly[at] = rows[:, MONTHS_FROM : MONTHS_FROM + RATING_MONTHS]
    return PurchaseHistory(
        customer_id=customer_id,
        purchases=spread(1, 0, np.int64),
        purchase_days=spread(2, 0, np.int64),
        spend_minor=spread(3, 0, np.int64),
        first_day_minor=spread(6, 0, np.int64),
        trailing_year_minor=spread(7, 0, np.int64),
        first_day=spread(4, np.nan, np.float64),
        last_day=spread(5, np.nan, np.float64),
        created_day=(people[:, 1] + days.offsets_of(people[:, 1])) / DAY_S,
        payment_terms=np.array([*terms, ""], dtype=np.str_)[people[:, 2]],  # -1: ""
        minor_per_unit=MINOR_PER_UNIT,
        monthly_minor=monthly,
        programme_points=given[:, 0],
        trailing_points=given[:, 1],
        discount_minor=given[:, 2],
        trailing_discount_minor=given[:, 3],
        point_value=point_value,
    )
