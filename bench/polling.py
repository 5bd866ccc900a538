"""Concurrent polling (``bot.polling.poll``) against the sequential loop of today, same run.

Both loops poll the same Bot API double (``FakeTelegram``: getUpdates with offsets and
long polls, at most 100 updates per call, every reply recorded) and feed the same aiogram
``Dispatcher``. The sequential loop is aiogram's own ``start_polling`` with
``handle_as_tasks=False`` (one update at a time, as the bot ran before issue 13); the
concurrent one is the bot's ``poll`` (``ConcurrentPoller``: concurrent across chats, in
order within a chat, offset confirmed only past handled updates).

The handler mix: many chats; each update waits ``--io-ms`` (the database round trips of
an ordinary command, as an I/O wait) and answers through the double; the updates of
``--slow-chats`` chats take ``--slow-ms`` instead (a /forget on a large table, a slow
report). Two measures per loop:

* backlog: ``--updates`` updates already queued at Telegram; updates/s until all are
  answered;
* open loop: Poisson arrivals at ``--rate`` updates/s for ``--seconds``; latency from the
  arrival at Telegram to the answer, for the ordinary chats (the slow chats' own updates
  excluded: they are slow by construction).

While a slow update is in flight Telegram keeps re-sending it (its offset cannot be
confirmed), so getUpdates cannot long-poll; the poller then waits up to
``bot.polling.IDLE_WAIT_S`` for a handler before asking again, and an ordinary update
arriving meanwhile waits too. ``--idle-wait-ms`` shows that trade-off (polls vs latency).

Each run also checks that every chat's updates were handled in the order sent and that
nothing was lost or handled twice.

Usage::

    .venv/bin/python -m bench.polling [--chats 200] [--updates 2000] [--slow-chats 5]
        [--slow-ms 300] [--io-ms 3] [--rate 60] [--seconds 10] [--max-concurrent 32]
        [--http] [--record]

``--http`` serves the double over loopback HTTP (``BotAPIServer``) instead of in-process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from aiogram import Bot, Dispatcher, Router
from aiogram.types import Message

from bench.common import machine
from bot import polling
from bot.polling import poll
from bot.testing.telegram_double import BotAPIServer, FakeTelegram, recording_bot

RESULTS = Path(__file__).with_name("RESULTS.md")
CHAT_BASE = 20_000_000
POLL_TIMEOUT = 1


@dataclass
class Tally:
    """What the handlers saw: per chat the sequence numbers in handling order."""

    pushed_at: dict[int, float] = field(default_factory=dict)  # seq -> arrival
    done_at: dict[int, float] = field(default_factory=dict)  # seq -> answered
    order: dict[int, list[int]] = field(default_factory=lambda: defaultdict(list))
    duplicates: int = 0


def dispatcher(tally: Tally, slow: set[int], io_s: float, slow_s: float) -> Dispatcher:
    router = Router()

    @router.message()
    async def handle(message: Message) -> None:
        seq = int(message.text or "0")
        chat = message.chat.id
        await asyncio.sleep(slow_s if chat in slow else io_s)
        await message.answer(f"done {seq}")
        if seq in tally.done_at:
            tally.duplicates += 1
        tally.done_at[seq] = time.perf_counter()
        tally.order[chat].append(seq)

    dp = Dispatcher()
    dp.include_router(router)
    return dp


def update_json(chat: int, seq: int) -> dict[str, Any]:
    user = {"id": chat, "is_bot": False, "first_name": "U", "language_code": "en"}
    return {
        "message": {
            "message_id": seq,
            "date": 1_700_000_000,
            "chat": {"id": chat, "type": "private", "first_name": "U"},
            "from": user,
            "text": str(seq),
        }
    }


@contextlib.asynccontextmanager
async def double(http: bool) -> AsyncIterator[tuple[FakeTelegram, Bot]]:
    fake = FakeTelegram()
    if http:
        async with BotAPIServer(fake) as server:
            bot = server.bot()
            try:
                yield fake, bot
            finally:
                await bot.session.close()
    else:
        bot = recording_bot(fake)
        try:
            yield fake, bot
        finally:
            await bot.session.close()


Loop = Callable[[Dispatcher, Bot, int], "asyncio.Task[None]"]


def sequential(dp: Dispatcher, bot: Bot, _limit: int) -> asyncio.Task[None]:
    """aiogram's own polling, one update at a time (the bot before issue 13)."""
    return asyncio.create_task(
        dp.start_polling(
            bot,
            polling_timeout=POLL_TIMEOUT,
            handle_as_tasks=False,
            handle_signals=False,
            close_bot_session=False,
        )
    )


def concurrent(dp: Dispatcher, bot: Bot, limit: int) -> asyncio.Task[None]:
    return asyncio.create_task(poll(dp, bot, timeout=POLL_TIMEOUT, max_concurrent=limit))


LOOPS: dict[str, Loop] = {"sequential": sequential, "concurrent": concurrent}


@dataclass
class Result:
    loop: str
    backlog_ups: float
    open_p50_ms: float
    open_p99_ms: float
    open_n: int
    in_order: bool
    lost: int
    duplicates: int
    polls: int  # getUpdates calls over both phases


async def wait_until(check: Callable[[], bool], seconds: float) -> None:
    deadline = time.perf_counter() + seconds
    while not check():
        if time.perf_counter() > deadline:
            raise TimeoutError("updates not answered in time")
        await asyncio.sleep(0.005)


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


async def run_loop(name: str, args: argparse.Namespace, seed: int) -> Result:
    rng = random.Random(seed)
    chats = [CHAT_BASE + n for n in range(args.chats)]
    slow = set(chats[: args.slow_chats])
    tally = Tally()
    dp = dispatcher(tally, slow, args.io_ms / 1000, args.slow_ms / 1000)
    seq = 0
    sent_order: dict[int, list[int]] = defaultdict(list)

    def push(fake: FakeTelegram, chat: int) -> None:
        nonlocal seq
        seq += 1
        sent_order[chat].append(seq)
        tally.pushed_at[seq] = time.perf_counter()
        fake.push_update(update_json(chat, seq))

    async with double(args.http) as (fake, bot):
        # Backlog: everything queued before the loop starts.
        for _ in range(args.updates):
            push(fake, rng.choice(chats))
        started = time.perf_counter()
        task = LOOPS[name](dp, bot, args.max_concurrent)
        try:
            await wait_until(lambda: len(tally.done_at) >= args.updates, 600)
            backlog_s = time.perf_counter() - started
            # Open loop: Poisson arrivals while the loop runs.
            first_open = seq + 1
            end = time.perf_counter() + args.seconds
            next_at = time.perf_counter()
            while next_at < end:
                await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
                push(fake, rng.choice(chats))
                next_at += rng.expovariate(args.rate)
            await wait_until(lambda: len(tally.done_at) >= seq, 600)
            await wait_until(lambda: fake.pending_updates == 0, 30)  # all confirmed
            polls = len(fake.calls("getUpdates"))
        finally:
            if name == "sequential":
                with contextlib.suppress(RuntimeError):
                    await dp.stop_polling()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    quick = [
        tally.done_at[s] - tally.pushed_at[s]
        for chat, sequence in sent_order.items()
        if chat not in slow
        for s in sequence
        if s >= first_open
    ]
    return Result(
        loop=name,
        backlog_ups=args.updates / backlog_s,
        open_p50_ms=1000 * statistics.median(quick) if quick else float("nan"),
        open_p99_ms=1000 * percentile(quick, 99),
        open_n=len(quick),
        in_order=all(tally.order[c] == sent_order[c] for c in sent_order),
        lost=seq - len(tally.done_at),
        duplicates=tally.duplicates,
        polls=polls,
    )


def table(results: list[Result], args: argparse.Namespace) -> str:
    by = {r.loop: r for r in results}
    lines = [
        f"{'loop':<11}{'backlog upd/s':>14}{'p50 ms':>9}{'p99 ms':>9}{'n':>6}"
        f"{'in order':>10}{'lost':>6}{'dup':>5}{'polls':>7}"
    ]
    for r in results:
        lines.append(
            f"{r.loop:<11}{r.backlog_ups:>14.1f}{r.open_p50_ms:>9.1f}{r.open_p99_ms:>9.1f}"
            f"{r.open_n:>6}{r.in_order!s:>10}{r.lost:>6}{r.duplicates:>5}{r.polls:>7}"
        )
    seq, con = by["sequential"], by["concurrent"]
    lines.append(
        f"concurrent/sequential: throughput x{con.backlog_ups / seq.backlog_ups:.1f}, "
        f"ordinary chats' p99 {seq.open_p99_ms:.0f} ms -> {con.open_p99_ms:.0f} ms "
        f"(open loop at {args.rate:g} upd/s)"
    )
    return "\n".join(lines)


def parameters(args: argparse.Namespace) -> str:
    return (
        f"{args.chats} chats, {args.slow_chats} of them slow ({args.slow_ms:g} ms per update), "
        f"others {args.io_ms:g} ms of I/O wait; backlog {args.updates} updates; open loop "
        f"{args.rate:g} upd/s for {args.seconds:g} s; max_concurrent {args.max_concurrent}; "
        f"double {'over loopback HTTP' if args.http else 'in-process'}; "
        f"poller idle wait {polling.IDLE_WAIT_S * 1000:g} ms"
    )


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.polling", description=__doc__.split("\n")[0])
    p.add_argument("--chats", type=int, default=200)
    p.add_argument("--updates", type=int, default=2000)
    p.add_argument("--slow-chats", type=int, default=5)
    p.add_argument("--slow-ms", type=float, default=300.0)
    p.add_argument("--io-ms", type=float, default=3.0)
    p.add_argument("--rate", type=float, default=60.0)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--max-concurrent", type=int, default=32)
    p.add_argument(
        "--idle-wait-ms",
        type=float,
        default=None,
        help="override bot.polling.IDLE_WAIT_S: how long the poller waits for a handler "
        "when Telegram re-sends only updates in flight (and so cannot long-poll)",
    )
    p.add_argument("--http", action="store_true", help="the double over loopback HTTP")
    p.add_argument("--record", action="store_true", help=f"append the result to {RESULTS.name}")
    args = p.parse_args(argv)
    if not 0 <= args.slow_chats < args.chats:
        p.error("--slow-chats must be below --chats")
    return args


async def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    if args.idle_wait_ms is not None:
        polling.IDLE_WAIT_S = args.idle_wait_ms / 1000
    results = []
    for n, name in enumerate(("sequential", "concurrent")):
        print(f"{name} ...", file=sys.stderr, flush=True)
        results.append(await run_loop(name, args, seed=20261126 + n))
    text = table(results, args)
    print(f"{machine()}\n{parameters(args)}\n\n{text}")
    if args.record:
        entry = (
            f"\n### Run {date.today().isoformat()}: `python -m bench.polling {' '.join(argv)}`\n\n"
            f"{machine()}.\n{parameters(args)}.\n\n```\n{text}\n```\n"
        )
        with RESULTS.open("a", encoding="utf-8") as fh:
            fh.write(entry)
    ok = all(r.in_order and r.lost == 0 and r.duplicates == 0 for r in results)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main(sys.argv[1:])))
