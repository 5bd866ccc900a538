"""The purchase path with earn rules against none: SQL statements and CPU per
``/purchase`` (``bench.purchase``'s harness: the real dispatcher, SQLite or PostgreSQL).

Three rows: no rules; three active rules covering every purchase (a multiplier on the
tag, a promotion, a fixed bonus: the purchase's first statement credits all three); and
those plus a punch card on the tag (one count per purchase, a write-back on the rewarded
one). Usage::

    .venv/bin/python -m bench.earn_rules [--backend sqlite|postgresql] [--updates N]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Sequence

from bench.common import machine
from bench.purchase import DEFAULT_PG_URL, Harness, postgres_url, sqlite_url
from bot.services.rules.publish import publish_text
from bot.services.rules.versions import local_moment

THREE = """
[[rule]]
name = "tyres-x2"
kind = "multiplier"
factor = 2
tags = ["tyres"]
[[rule]]
name = "all-x1-5"
kind = "promotion"
factor = 1.5
ends = 2099-12-31
[[rule]]
name = "tyres-visit"
kind = "bonus"
points = 20
tags = ["tyres"]
"""
PUNCH = """
[[rule]]
name = "tyres-5th"
kind = "punch"
tags = ["tyres"]
every = 5
reward = "points"
points = 100
"""


async def _round(h: Harness, n: int) -> tuple[float, float]:
    """Statements and CPU milliseconds per purchase over ``n`` tagged purchases."""
    updates = [
        h.cashiers[0].build_message(f"/purchase {h.card_codes[i % len(h.card_codes)]} 1000 tyres")
        for i in range(n + 1)
    ]
    await h.app_dp.feed_update(h.bot, updates[0])  # warm: statements built, rules read
    before, cpu = h.counter.statements, time.process_time()
    for update in updates[1:]:
        await h.app_dp.feed_update(h.bot, update)
    spent = time.process_time() - cpu
    return (h.counter.statements - before) / n, spent * 1000 / n


VARIANTS = (
    ("no rules", None),
    ("three active rules", THREE),
    ("three + a punch card", THREE + PUNCH),
)


async def run(backend: str, url: str, n: int, rules: str | None) -> tuple[float, float]:
    h = await Harness.start(backend, url, customers=50, cashiers=1)
    try:
        if rules is not None:
            today = local_moment(h.biz, h.biz.clock.now()).date().isoformat()
            await publish_text(h.biz, f"starts = {today}\n{rules}")
        return await _round(h, n)
    finally:
        await h.close()


async def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench.earn_rules")
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--updates", type=int, default=300)
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    args = parser.parse_args(argv)
    lines = [machine(), "", "| backend | rules | statements / purchase | CPU ms / purchase |",
             "|---|---|---|---|"]  # fmt: skip
    for name, rules in VARIANTS:  # a fresh database each
        if args.backend == "sqlite":
            async with sqlite_url() as url:
                found = await run("sqlite", url, args.updates, rules)
        else:
            async with postgres_url(args.pg_url) as pg:
                if pg is None:
                    return 1
                found = await run("postgresql", pg, args.updates, rules)
        lines.append(f"| {args.backend} | {name} | {found[0]:.2f} | {found[1]:.2f} |")
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main(sys.argv[1:])))
