"""SIGKILL the real bot process during a burst of purchases, restart it, and check the
ledger/outbox promise of SPEC "Ledger": no credit without its notification, no notification
without its credit, and duplicates only for messages in flight at the kill, at most the
sender's concurrency.

The bot runs as a child process (``loyalty-bot run -c config.toml``, see
tests/support/crash.py) against a Bot API double (BotAPIServer) served from this test
process; the database is a SQLite file both open. The test seeds customers directly through
the services, pushes a burst of ``/purchase`` updates from the cashier, kills the bot with
SIGKILL mid-burst, restarts it, and reads the database and the double's records.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from time import monotonic
from time import time as wall_time
from typing import Any

from aiohttp import web
from sqlalchemy import func, select

from bot.app import build_business
from bot.config import load_settings
from bot.db.models import (
    Customer,
    LedgerEntry,
    LedgerKind,
    OutboxMessage,
    OutboxState,
    ProcessedUpdate,
    Purchase,
)
from bot.services.context import Business
from bot.services.members.signup import register
from bot.services.people.staff import sync_outlets
from bot.testing.telegram_double import BotAPIServer, FakeTelegram, next_message_id, next_update_id
from tests.support.crash import BotProcess, counter_business, write_config

# Owners (they may use staff commands) typing at once in their own chats: the bot handles
# their updates concurrently (bot/polling.py), each chat in order.
CASHIERS = (1000, 1001, 1002, 1003)
CUSTOMERS = 20
PURCHASES = 200
CONCURRENCY = 4
BURST_CHUNK = 20  # updates pushed at once, then a short pause: a burst lasting ~1 s
BURST_PAUSE = 0.1
KILL_AFTER_NOTIFICATIONS = 10  # kill mid-burst: some customers told, some sends in flight
KILL_AFTER_PURCHASES = 50  # ... and some purchases committed, others fetched or not yet
ACK_DELAY = 0.03  # sendMessage answers this long after the message reached the chat
START_TIMEOUT = 30.0
RECOVERY_TIMEOUT = 60.0
QUIET_SECONDS = 3.0  # no progress for this long after recovery = nothing more will happen
ALREADY = "Already recorded"


@dataclass(frozen=True)
class Seeded:
    chat_id: int
    card_code: str


class SlowAckServer(BotAPIServer):
    """The double, with sendMessage answered ``ack_delay`` after the chat got the message.

    (``FakeTelegram.set_latency`` waits *before* a call is recorded; a message in flight at
    the kill is one that was delivered and not yet acknowledged, and that window is this.)
    """

    ack_delay = 0.0

    async def _handle(self, request: web.Request) -> web.Response:
        response = await super()._handle(request)
        if self.ack_delay and request.match_info["method"].lower() == "sendmessage":
            await asyncio.sleep(self.ack_delay)
        return response


@dataclass(frozen=True)
class KillState:
    pushed: int  # updates pushed before the kill
    unconfirmed: int  # of those, not yet confirmed through getUpdates' offset
    told: int  # customer notifications that had reached their chats
    purchases: int  # purchases committed
    last_purchase_id: int
    outbox_states: dict[int, str]  # outbox row id -> state
    restart_mark: int  # index in fake.requests where the second run begins


async def wait_for(
    predicate: Callable[[], Awaitable[bool]], timeout: float, what: str, bot: BotProcess
) -> None:
    deadline = monotonic() + timeout
    while not await predicate():
        bot.check_alive()
        assert monotonic() < deadline, f"{what}: not within {timeout}s\n{bot.tail()}"
        await asyncio.sleep(0.02)


def purchase_update(card_code: str, amount: int, cashier: int) -> dict[str, Any]:
    text = f"/purchase {card_code} {amount}"
    user = {"id": cashier, "is_bot": False, "first_name": "Olga", "language_code": "en"}
    message = {
        "message_id": next_message_id(),
        "date": int(wall_time()),
        "chat": {"id": cashier, "type": "private", "first_name": "Olga"},
        "from": user,
        "text": text,
        "entities": [{"type": "bot_command", "offset": 0, "length": len("/purchase")}],
    }
    return {"update_id": next_update_id(), "message": message}


async def seed(biz: Business) -> list[Seeded]:
    await sync_outlets(biz)
    seeded = []
    for n in range(CUSTOMERS):
        chat_id = 7_000_000 + n
        outcome = await register(
            biz,
            key=f"seed:{n}",
            tg_id=chat_id,
            phone=f"+7916{5_000_000 + n:07d}",
            name=f"Customer {n}",
            language="en",
            consent_at=datetime.now(UTC),
        )
        seeded.append(Seeded(chat_id, outcome.result.card_code))
    return seeded


async def scalar(biz: Business, query: Any) -> int:
    async with biz.db.read() as session:
        return int(await session.scalar(query) or 0)


async def outbox_rows(biz: Business) -> list[OutboxMessage]:
    async with biz.db.read() as session:
        return list(await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


async def test_sigkill_during_purchase_burst_loses_and_doubles_nothing(
    tmp_path: Path, db_url: str
) -> None:
    fake = FakeTelegram()
    async with SlowAckServer(fake) as server:
        server.ack_delay = ACK_DELAY
        config = write_config(
            tmp_path / "config.toml",
            **counter_business("Crash Garage", list(CASHIERS)),
            telegram={"api_server": server.url, "polling_timeout": 1},
            database={"url": db_url},
            outbox={"concurrency": CONCURRENCY, "poll_seconds": 0.2, "rate_per_second": 1000,
                    "per_chat_per_second": 1000},
        )  # fmt: skip
        biz = build_business(load_settings(config, use_env=False))
        try:
            await _scenario(tmp_path, config, fake, biz, await seed(biz))
        finally:
            await biz.db.dispose()


async def _scenario(
    tmp_path: Path, config: Path, fake: FakeTelegram, biz: Business, people: list[Seeded]
) -> None:
    chats = {p.chat_id for p in people}
    purchases_now = select(func.count()).select_from(Purchase)

    def notifications() -> int:
        return sum(1 for call in fake.sent() if call.chat_id in chats)

    first = BotProcess(config, fake.token, tmp_path / "bot-1.log")
    second = BotProcess(config, fake.token, tmp_path / "bot-2.log")
    pushed: dict[int, int] = {}  # update id -> amount (unique, so every text is unique)

    async def burst() -> None:
        """The cashiers' burst (if the kill comes first, it goes on while the bot is down)."""
        for i in range(PURCHASES):
            amount = 100 + i  # 5% of 100..299: every purchase earns 5..14 points
            cashier = CASHIERS[i % len(CASHIERS)]
            update = fake.push_update(
                purchase_update(people[i % CUSTOMERS].card_code, amount, cashier)
            )
            pushed[update["update_id"]] = amount
            if i % BURST_CHUNK == BURST_CHUNK - 1:
                await asyncio.sleep(BURST_PAUSE)

    pusher: asyncio.Task[None] | None = None
    try:
        # ------------------------------------------------------------- run 1: burst, SIGKILL
        marks = [monotonic()]
        await first.start()

        async def polling() -> bool:
            return bool(fake.calls("getUpdates"))

        await wait_for(polling, START_TIMEOUT, "first run starts polling", first)
        marks.append(monotonic())
        pusher = asyncio.create_task(burst())

        async def mid_burst() -> bool:
            return (
                notifications() >= KILL_AFTER_NOTIFICATIONS
                and await scalar(biz, purchases_now) >= KILL_AFTER_PURCHASES
            )

        await wait_for(mid_burst, START_TIMEOUT, "purchases and notifications", first)
        first.kill()
        marks.append(monotonic())
        # The Bot API and the database exactly as the kill left them.
        kill = KillState(
            pushed=len(pushed),
            unconfirmed=fake.pending_updates,
            told=notifications(),
            purchases=await scalar(biz, purchases_now),
            last_purchase_id=await scalar(biz, select(func.max(Purchase.id))),
            outbox_states={row.id: row.state for row in await outbox_rows(biz)},
            restart_mark=len(fake.requests),
        )

        # ------------------------------------------------------------- run 2: recover
        await second.start()
        await pusher
        keys = [f"u:{uid}" for uid in pushed]
        last_progress: list[Any] = [None, monotonic()]

        async def recovered() -> bool:
            if fake.pending_updates:
                return False
            # Purchases first: once all are in, their outbox rows are too (same transaction).
            done = await scalar(
                biz,
                select(func.count())
                .select_from(ProcessedUpdate)
                .where(ProcessedUpdate.key.in_(keys), ProcessedUpdate.result.is_not(None)),
            )
            pending = await scalar(
                biz,
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.state == OutboxState.PENDING),
            )
            if pending:
                return False
            if done == len(keys):
                return True
            # Some updates never came back (lost): stop once nothing moves any more.
            progress = (done, len(fake.sent()))
            if progress != last_progress[0]:
                last_progress[:] = [progress, monotonic()]
                return False
            return monotonic() - last_progress[1] >= QUIET_SECONDS

        await wait_for(recovered, RECOVERY_TIMEOUT, "recovery after restart", second)
        marks.append(monotonic())
    finally:
        if pusher is not None and not pusher.done():
            pusher.cancel()
        await first.stop()
        await second.stop()

    start, until_kill, recovery = (b - a for a, b in itertools.pairwise(marks))
    print(f"\ncrash recovery: start {start:.1f}s, kill {until_kill:.1f}s, recovery {recovery:.1f}s")
    problems = await _check(biz, fake, chats, pushed, kill)
    assert not problems, "\n".join(problems)


async def _check(
    biz: Business, fake: FakeTelegram, chats: set[int], pushed: dict[int, int], kill: KillState
) -> list[str]:
    """Everything the SPEC promises after the crash; returns the broken promises."""
    problems: list[str] = []
    async with biz.db.read() as session:
        customers = {c.id: c for c in await session.scalars(select(Customer))}
        purchases = list(await session.scalars(select(Purchase).order_by(Purchase.id)))
        ledger = list(await session.scalars(select(LedgerEntry)))
        claims = {
            row.key: row.result
            for row in await session.scalars(
                select(ProcessedUpdate).where(ProcessedUpdate.key.like("u:%"))
            )
        }
    outbox = await outbox_rows(biz)

    # Every pushed update took effect exactly once (a re-delivery has no second effect).
    by_update = {uid: (claims.get(f"u:{uid}") or {}).get("purchase_id") for uid in pushed}
    lost = sorted(uid for uid, pid in by_update.items() if pid is None)
    if lost:
        problems.append(
            f"{len(lost)} of {len(pushed)} purchase updates never took effect, update ids "
            f"{lost[:10]}: fetched before the kill but not committed, and confirmed (by the next "
            f"getUpdates offset) so never re-delivered"
        )
    if sorted(int(p.amount) for p in purchases) != sorted(
        amount for uid, amount in pushed.items() if uid not in lost
    ):
        problems.append(f"purchases do not match the updates: {len(purchases)} rows")
    if len({pid for pid in by_update.values() if pid is not None}) != len(pushed) - len(lost):
        problems.append("two updates claim the same purchase")

    # Exactly one earn entry per purchase and nothing else; balances equal the sums.
    earn = Counter(e.purchase_id for e in ledger if e.kind == LedgerKind.EARN)
    wrong = [p.id for p in purchases if earn[p.id] != 1 or p.points_earned <= 0]
    if wrong or len(ledger) != len(purchases):
        problems.append(f"ledger: purchases without exactly one earn entry {wrong[:10]}")
    sums = Counter[int]()
    for entry in ledger:
        sums[entry.customer_id] += entry.points
    off = {cid: (c.balance, sums[cid]) for cid, c in customers.items() if c.balance != sums[cid]}
    if off:
        problems.append(f"cached balance != sum of entries (balance, sum): {off}")

    # Exactly one outbox row per purchase, with the text its own transaction rendered
    # (balances follow commit order, which is purchase id order on SQLite).
    running = Counter[int]()
    expected: list[tuple[int, str]] = []
    for p in purchases:
        running[p.customer_id] += p.points_earned
        customer = customers[p.customer_id]
        text = biz.texts.render(
            customer.language,
            "customer.points_earned",
            amount=Decimal(p.amount),
            points=p.points_earned,
            balance=running[p.customer_id],
        )
        expected.append((int(customer.telegram_id or 0), text))
    assert len(set(expected)) == len(expected), "test bug: notification texts must be unique"
    queued = Counter((row.chat_id, row.text) for row in outbox)
    if queued != Counter(expected):
        problems.append(
            f"outbox != one notification per credit: extra {list(queued - Counter(expected))[:3]}"
            f", missing {list(Counter(expected) - queued)[:3]}"
        )
    unsent = Counter(row.state for row in outbox if row.state != OutboxState.SENT)
    if unsent:
        problems.append(f"outbox rows not sent: {dict(unsent)}")

    # What reached the chats: every credit told, nothing told that was not credited, and
    # duplicates only for rows still pending at the kill whose first copy left before it.
    received = Counter((call.chat_id, call.text) for call in fake.sent() if call.chat_id in chats)
    row_of = {(row.chat_id, row.text): row for row in outbox}
    missing = [key for key in expected if received[key] == 0]
    if missing:
        problems.append(f"{len(missing)} credits never told, e.g. {missing[:3]}")
    unknown = [key for key in received if key not in row_of]
    if unknown:
        problems.append(f"{len(unknown)} notifications without a credit, e.g. {unknown[:3]}")
    before_restart = Counter(
        (call.chat_id, call.text)
        for call in fake.requests[: kill.restart_mark]
        if call.method == "sendMessage" and call.ok
    )
    doubled = {key: n for key, n in received.items() if n > 1 and key in row_of}
    duplicates = sum(n - 1 for n in doubled.values())
    for key, n in doubled.items():
        row = row_of[key]
        if n > 2 or kill.outbox_states.get(row.id) != OutboxState.PENDING:
            state = kill.outbox_states.get(row.id, "absent")
            problems.append(f"outbox row {row.id} ({state} at the kill) reached the chat {n}x")
        elif before_restart[key] != 1:
            problems.append(f"outbox row {row.id} was sent twice by one run")
    if duplicates > CONCURRENCY:
        problems.append(f"{duplicates} duplicates, more than the concurrency {CONCURRENCY}")

    # The cashier: a re-delivered update whose purchase was committed before the kill is
    # answered "already recorded"; no purchase is ever answered "recorded" twice.
    plain = Counter[int]()
    already = replies = 0
    for index, call in enumerate(fake.requests):
        if call.method != "sendMessage" or not call.ok or call.chat_id not in CASHIERS:
            continue
        replies += 1
        text = call.text or ""
        pid = _purchase_no(text)
        if pid is None:
            problems.append(f"unexpected cashier reply {text!r}")
        elif text.startswith(ALREADY):
            already += 1
        else:
            plain[pid] += 1
            if index >= kill.restart_mark and pid <= kill.last_purchase_id:
                problems.append(f"purchase {pid} (committed before the kill) answered as new")
    twice = {pid: n for pid, n in plain.items() if n > 1}
    if twice:
        problems.append(f"purchases answered 'recorded' more than once: {twice}")

    print(
        f"\ncrash recovery: SIGKILL after {kill.pushed}/{PURCHASES} updates pushed "
        f"({kill.unconfirmed} unconfirmed), {kill.purchases} purchases committed, "
        f"{kill.told} notifications sent; after restart: {len(purchases)} purchases, "
        f"{len(lost)} updates lost, {duplicates} duplicate notification(s) "
        f"(bound {CONCURRENCY}), {replies} cashier replies ({already} 'already recorded')"
    )
    return problems


def _purchase_no(text: str) -> int | None:
    marker = "Purchase №"
    if marker not in text:
        return None
    digits = text.split(marker, 1)[1].split()[0].rstrip(":")
    return int(digits) if digits.isdigit() else None
