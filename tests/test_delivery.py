"""The outbox sender against the Bot API double (issue 11, "Delivery: the outbox sender,
hardened"): pacing at Telegram's limits with 429 ``retry_after``, priorities, deadlines
instead of attempt counts, 403 and blocked customers, several senders at once.

Pacing runs on real seconds; the tests keep them few (a high rate, or a small count at
the real rate), and check the pacing arithmetic itself on a controlled time source.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from datetime import timedelta
from time import monotonic
from typing import Any

import pytest
from sqlalchemy import select

from bot.app import PLACEHOLDER_TOKEN, build_bot
from bot.db.engine import create_database
from bot.db.models import Customer, OutboxMessage, OutboxState
from bot.delivery.pacing import CHAT_GUARD, GUARD, RUN_START_SLACK, Pacer
from bot.delivery.sender import OutboxSender, backoff
from bot.metrics import REGISTRY
from bot.services.outbox import delivery_queue
from bot.services.outbox.contact import ContactVerdict, reach
from bot.testing.telegram_double import RecordingSession
from tests.conftest import BACKENDS, make_settings
from tests.support.flows import join
from tests.support.harness import App
from tests.support.outbox import FIRST_CHAT, add_customers, queue, states


def paced(app: App, db_url: str, **outbox: Any) -> App:
    """The app with the outbox settings given (production pacing unless overridden)."""
    values = {"rate_per_second": 30, "per_chat_per_second": 1, **outbox}
    return app.variant(make_settings(db_url, outbox=values))


async def rows(app: App) -> list[OutboxMessage]:
    async with app.biz.db.read() as session:
        return list(await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


# ----------------------------------------------------------------------------- pacing


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def send_all(pacer: Pacer, time: FakeTime, chats: list[int], late: float = 0.0) -> list[float]:
    """Send into ``chats`` in turn as the sender does, each wait overslept by ``late``."""
    starts = []
    for chat in chats:
        while (wait := pacer.delay(chat)) > 0:
            time.now += wait + late
        pacer.record(chat)
        starts.append(time.now)
    return starts


def most_in_a_second(starts: list[float]) -> int:
    return max(sum(1 for s in starts if t <= s < t + 1) for t in starts)


def test_pacing_arithmetic() -> None:
    """30 a second overall: sends 1/30 s apart, never 31 in one second; one a second into
    a chat; a 429 stops everything for its retry_after."""
    time = FakeTime()
    pacer = Pacer(rate=30, per_chat=1, time=time)
    starts = send_all(pacer, time, list(range(90)))
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    # evenly spaced, 1 % apart more than 1/30 s: a request may arrive 10 ms late; the
    # run's first send (perhaps on a new connection) has RUN_START_SLACK more after it
    assert gaps == [pytest.approx((1 + GUARD) / 30 + RUN_START_SLACK)] + [
        pytest.approx((1 + GUARD) / 30)
    ] * 88
    assert most_in_a_second(starts) == 30
    assert 88 / (starts[-1] - starts[1]) == pytest.approx(30 / (1 + GUARD))  # 29.7
    # the same chat again: a second (and the guard) after its last send
    time.now += 5
    again = send_all(pacer, time, [7, 7, 7])
    assert [b - a for a, b in itertools.pairwise(again)] == [pytest.approx(1 + CHAT_GUARD)] * 2
    assert pacer.held_chats() == [7]
    # oversleeping every wait by 3 ms: the rate holds (the run's slots are fixed), and the
    # one-second limit still holds on the real start times
    time.now += 5
    late = send_all(pacer, time, list(range(1000, 1300)), late=0.003)
    assert most_in_a_second(late) <= 30
    assert 299 / (late[-1] - late[0]) >= 29.4
    # idle, then a burst of work: no saved-up slots are spent at once
    time.now += 60
    fresh = send_all(pacer, time, [1, 2])
    assert fresh[1] - fresh[0] == pytest.approx((1 + GUARD) / 30 + RUN_START_SLACK)
    # 429 retry_after 5: nothing before then
    pacer.pause(5)
    assert pacer.delay(3) == pytest.approx(5)


def test_backoff_doubles_to_the_cap() -> None:
    assert [backoff(n, 300) for n in range(1, 12)] == [
        1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300
    ]  # fmt: skip


async def test_real_pacing_within_telegram_limits(app: App, db_url: str) -> None:
    """In real time, against a double that answers 429 beyond 30/s overall and 1/s per
    chat: 60 messages to 60 chats and 3 to one chat go out at the limit, none refused."""
    app.fake.enforce_limits(overall=30, per_chat=1.0, retry_after=1)
    fast = paced(app, db_url)
    chats = [42] * 3 + [FIRST_CHAT + n for n in range(60)]
    ids = await queue(fast.biz, chats)
    started = monotonic()
    attempts = await fast.sender.drain()
    elapsed = monotonic() - started
    sent = app.fake.sent()
    refused = [(c.chat_id, round(c.time - started, 4)) for c in app.fake.calls("sendMessage")
               if c.status == 429]  # fmt: skip
    assert app.fake.flood_refusals == 0, (refused, [round(c.time - started, 4) for c in sent])
    assert attempts == len(ids)
    assert Counter(c.chat_id for c in sent) == Counter(chats)
    assert set((await states(app.biz.db)).values()) == {OutboxState.SENT}
    # 63 messages at 30/s need 62/30 s (the third to chat 42, 2 s after the first, fits)
    to_42_at = [round(c.time - started, 3) for c in sent if c.chat_id == 42]
    assert 62 / 30 <= elapsed < 62 / 30 + 1.0, to_42_at
    to_42 = [c.time for c in sent if c.chat_id == 42]
    assert all(b - a >= 1.0 for a, b in itertools.pairwise(to_42))
    span = [c.time for c in sent]
    assert max(sum(1 for s in span if t <= s < t + 1) for t in span) <= 30


async def test_429_waits_retry_after_and_sends_once(app: App, db_url: str) -> None:
    app.fake.fail_next(
        "sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1, times=1
    )
    fast = paced(app, db_url, rate_per_second=1000, per_chat_per_second=1000)
    await queue(fast.biz, [FIRST_CHAT, FIRST_CHAT + 1])
    started = monotonic()
    assert await fast.sender.drain() == 3  # the refused one, then both
    assert monotonic() - started >= 1.0
    calls = app.fake.calls("sendMessage")
    assert [c.status for c in calls] == [429, 200, 200]
    assert calls[1].time - calls[0].time >= 1.0
    messages = await rows(app)
    assert [(m.state, m.attempts) for m in messages] == [(OutboxState.SENT, 1)] * 2


# ----------------------------------------------------------------------------- priorities


async def test_transactional_goes_before_any_backlog(app: App) -> None:
    """A redemption prompt and a purchase notice queued after 300 birthday greetings are
    the first to leave."""
    ids = await add_customers(app.biz.db, 300, app.clock.now())
    bulk = [FIRST_CHAT + n for n in range(300)]
    await queue(app.biz, bulk, kind="birthday", customer_ids=ids)
    await queue(app.biz, [FIRST_CHAT + 299], kind="redemption_prompt", text="prompt")
    await queue(app.biz, [FIRST_CHAT + 5], kind="purchase", text="thanks")
    await app.deliver()
    texts = [c.text for c in app.fake.sent()]
    assert texts[:2] == ["prompt", "thanks"] and len(texts) == 302


async def test_prompt_behind_a_running_backlog_leaves_within_seconds(
    app: App, db_url: str
) -> None:
    """At the real rate (30/s) with 600 marketing messages (20 s of sending) going out, a
    redemption prompt queued mid-way reaches its chat within 2 s."""
    fast = paced(app, db_url)
    ids = await add_customers(app.biz.db, 600, app.clock.now())
    await queue(fast.biz, [FIRST_CHAT + n for n in range(600)], kind="broadcast", customer_ids=ids)
    runner = asyncio.create_task(fast.sender.run())
    try:
        await app.fake.wait_sent(20, timeout=5)
        queued_at = monotonic()
        await queue(fast.biz, [99], kind="redemption_prompt", text="prompt")
        fast.sender.wake()
        await app.fake.wait_sent(1, chat_id=99, timeout=3)
        assert monotonic() - queued_at < 2.0
        assert len(app.fake.sent()) < 100  # the backlog was still there
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)


# ----------------------------------------------------------------------------- failures


async def test_outage_longer_than_five_attempts_loses_nothing(app: App) -> None:
    """A Bot API outage (502) far longer than the old 5 attempts: the purchase notice is
    retried with growing pauses and delivered when Telegram is back; a redemption prompt
    whose 5-minute window passed during the outage is expired, not failed, never sent."""
    app.fake.start_outage(502)
    notice, prompt = await queue(app.biz, [FIRST_CHAT, FIRST_CHAT + 1], kind="purchase")
    async with app.biz.db.write() as session:
        row = await session.get(OutboxMessage, prompt)
        assert row is not None
        row.kind, row.deadline = "redemption_prompt", app.clock.now() + timedelta(minutes=5)
    started = app.clock.now()
    pauses = []
    for _ in range(10):
        await app.deliver()
        message = (await rows(app))[0]
        assert message.state == OutboxState.PENDING and message.not_before is not None
        pauses.append(message.not_before - app.clock.now())
        app.clock.current = message.not_before
    assert [p.total_seconds() for p in pauses] == [1, 2, 4, 8, 16, 32, 64, 128, 256, 300]
    assert app.clock.now() - started > timedelta(minutes=13)
    by_id = {m.id: m for m in await rows(app)}
    assert by_id[prompt].state == OutboxState.EXPIRED
    assert 5 <= by_id[prompt].attempts < 10 and "Bad Gateway" in (by_id[prompt].last_error or "")
    app.fake.end_outage()
    await app.deliver()
    by_id = {m.id: m for m in await rows(app)}
    assert by_id[notice].state == OutboxState.SENT and by_id[notice].attempts == 11
    assert [c.chat_id for c in app.fake.sent()] == [FIRST_CHAT]  # the prompt never went


async def test_undelivered_past_deadline_expires_unsent(app: App) -> None:
    await queue(app.biz, [FIRST_CHAT], kind="birthday")  # ttl one day
    app.clock.advance(timedelta(days=1))
    assert await app.deliver() == 0
    assert list((await states(app.biz.db)).values()) == [OutboxState.EXPIRED]
    assert app.fake.sent() == []


async def test_bad_request_fails_at_once(app: App) -> None:
    app.fake.fail_next("sendMessage", 400, "Bad Request: chat not found")
    await queue(app.biz, [FIRST_CHAT])
    await app.deliver()
    app.clock.advance(timedelta(hours=1))
    await app.deliver()
    [message] = await rows(app)
    assert (message.state, message.attempts) == (OutboxState.FAILED, 1)
    assert len(app.fake.calls("sendMessage")) == 1


async def test_blocked_customer_is_unreachable_until_they_write(app: App) -> None:
    """403: the message failed, the customer marked unreachable; their queued marketing
    is skipped unsent, jobs' reach() says UNREACHABLE, the owner's /kpi counts them; when
    they write to the bot again they are reachable."""
    user = app.user(5001, "en")
    customer = await join(app, user)
    await app.deliver()
    app.fake.clear()
    app.fake.block_chat(5001)
    kinds = ["purchase", "broadcast", "holiday", "survey"]
    for kind in kinds:
        await queue(app.biz, [5001], kind=kind, text=kind, customer_ids=[customer.id])
    await app.deliver()
    assert [c.status for c in app.fake.calls("sendMessage")] == [403]  # one try, no more
    assert dict(Counter((await states(app.biz.db)).values())) == {
        OutboxState.FAILED: 1,
        OutboxState.SKIPPED: 3,
    }
    blocked = await app.customer(id=customer.id)
    assert blocked is not None and blocked.unreachable_at == app.clock.now()
    async with app.biz.db.read() as session:
        # what /campaigns counts as blocked (delivery_queue.blocked): the 403, whatever its text
        refused = await session.scalars(select(OutboxMessage.kind).where(delivery_queue.blocked()))
        assert list(refused) == ["purchase"]
        assert await reach(
            session, app.biz, blocked, app.clock.now(), kind="survey"
        ) is ContactVerdict.UNREACHABLE
    await app.owner.send("/kpi")
    assert "Blocked the bot (messages do not reach them until they write again): 1" in (
        app.fake.last(app.owner.user_id).text or ""
    )
    app.fake.unblock_chat(5001)
    await user.send("/balance")
    back = await app.customer(id=customer.id)
    assert back is not None and back.unreachable_at is None
    await app.owner.send("/kpi")
    assert "write again): 0" in (app.fake.last(app.owner.user_id).text or "")


async def test_marketing_skipped_when_opt_in_withdrawn_before_sending(app: App) -> None:
    ids = await add_customers(app.biz.db, 2, app.clock.now())
    await queue(app.biz, [FIRST_CHAT, FIRST_CHAT + 1], kind="winback", customer_ids=ids)
    await queue(app.biz, [FIRST_CHAT], kind="expiry_warning", customer_ids=ids[:1])
    async with app.biz.db.write() as session:
        customer = await session.get(Customer, ids[0])
        assert customer is not None
        customer.marketing_opt_in = False
    await app.deliver()
    assert [(c.chat_id, c.text) for c in app.fake.sent()] == [
        (FIRST_CHAT + 1, f"message 1 to {FIRST_CHAT + 1}"),
        (FIRST_CHAT, f"message 0 to {FIRST_CHAT}"),  # not marketing: still goes
    ]
    assert Counter((await states(app.biz.db)).values()) == Counter(
        {OutboxState.SENT: 2, OutboxState.SKIPPED: 1}
    )


async def test_unknown_kind_is_refused_and_writes_nothing(app: App) -> None:
    before = await app.counts()
    with pytest.raises(ValueError, match="unknown outbox message kind 'spam'"):
        await queue(app.biz, [FIRST_CHAT], kind="spam")
    assert await app.counts() == before


# ----------------------------------------------------------------------------- claims


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_two_senders_never_send_one_message_twice(app: App, db_url: str) -> None:
    """Two senders, each with its own connection pool, drain one outbox at once: every
    message reaches its chat exactly once (PostgreSQL: FOR UPDATE SKIP LOCKED; SQLite:
    the claim's write transaction)."""
    count = 600
    chats = [FIRST_CHAT + n for n in range(count)]
    await queue(app.biz, chats)
    # 300 a second each: a claim holds about 300, so the two share the 600
    settings = make_settings(db_url, outbox={"concurrency": 8, "rate_per_second": 300})
    other_db = create_database(db_url)
    try:
        first = OutboxSender(app.variant(settings).biz, app.bot)
        other = app.variant(settings).biz
        other = type(other)(settings=other.settings, db=other_db, clock=other.clock,
                            texts=other.texts)  # fmt: skip
        second_bot = build_bot(settings, session=RecordingSession(app.fake))
        assert second_bot.token == PLACEHOLDER_TOKEN
        second = OutboxSender(other, second_bot)
        done = await asyncio.gather(first.drain(), second.drain())
        await second_bot.session.close()
    finally:
        await other_db.dispose()
    assert sum(done) == count and min(done) > 0  # both took part
    assert Counter(c.chat_id for c in app.fake.sent()) == Counter(chats)
    assert set((await states(app.biz.db)).values()) == {OutboxState.SENT}


async def test_a_live_lease_keeps_others_off_and_a_dead_one_expires(app: App) -> None:
    """A row claimed by a sender that died is not sent by another until the lease ends."""
    [message_id] = await queue(app.biz, [FIRST_CHAT])
    async with app.biz.db.write() as session:
        row = await session.get(OutboxMessage, message_id)
        assert row is not None
        row.claimed_until = app.clock.now() + timedelta(seconds=60)
    assert await app.deliver() == 0
    app.clock.advance(timedelta(seconds=60))
    assert await app.deliver() == 1
    assert [c.chat_id for c in app.fake.sent()] == [FIRST_CHAT]


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_metrics_backlog_by_priority_outcomes_and_429s(app: App) -> None:
    await queue(app.biz, [FIRST_CHAT + n for n in range(3)], kind="birthday")
    await queue(app.biz, [FIRST_CHAT + 9], kind="purchase")
    await queue(app.biz, [FIRST_CHAT + 8], kind="holiday")
    async with app.biz.db.write() as session:
        late = await session.get(OutboxMessage, 5)
        assert late is not None
        late.deadline = app.clock.now()  # overdue: the sweep expires it
    expired = metric("loyalty_sends_total", outcome="expired")
    await app.sender.sweep()
    assert metric("loyalty_outbox_due", priority="bulk") == 3
    assert metric("loyalty_outbox_due", priority="transactional") == 1
    assert metric("loyalty_sends_total", outcome="expired") == expired + 1
    before = {o: metric("loyalty_sends_total", outcome=o) for o in ("sent", "flood")}
    floods = metric("loyalty_telegram_429_total")
    app.fake.fail_next("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
    await app.deliver()
    assert metric("loyalty_sends_total", outcome="sent") == before["sent"] + 4
    assert metric("loyalty_sends_total", outcome="flood") == before["flood"] + 1
    assert metric("loyalty_telegram_429_total") == floods + 1
    await app.sender.sweep()
    assert metric("loyalty_outbox_due", priority="bulk") == 0
