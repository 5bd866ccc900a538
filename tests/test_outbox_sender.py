"""The outbox sender (SPEC.md, Broadcast outbox): obeys retry_after on 429 for every sender,
gives up on 403, retries transient errors with backoff, and never sends a row twice."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bot.db.models import OutboxMessage, OutboxState
from bot.services.outbox.rows import enqueue, outbox_row
from tests.support.harness import App


async def _queue(app: App, *chats: int) -> None:
    async with app.biz.db.write() as session:
        for chat in chats:
            enqueue(session, outbox_row(now=app.clock.now(), chat_id=chat, text=f"hello {chat}"))


async def _states(app: App) -> dict[int, tuple[str, int]]:
    async with app.biz.db.read() as session:
        rows = await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))
        return {m.chat_id: (m.state, m.attempts) for m in rows}


async def test_each_message_sent_once(app: App) -> None:
    await _queue(app, *range(1, 11))
    assert await app.deliver() == 10
    assert await app.deliver() == 0
    assert sorted(c.chat_id for c in app.fake.sent()) == list(range(1, 11))
    assert all(state == (OutboxState.SENT, 1) for state in (await _states(app)).values())


async def test_retry_after_pauses_then_resends(app: App) -> None:
    await _queue(app, 1)
    app.fake.fail_next("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
    await app.deliver()
    failed, sent = app.fake.calls("sendMessage")
    assert failed.status == 429 and sent.status == 200
    assert sent.time - failed.time >= 1.0, "the sender did not wait retry_after"
    assert (await _states(app))[1] == (OutboxState.SENT, 1)


async def test_forbidden_gives_up_without_retry(app: App) -> None:
    app.fake.block_chat(2)
    await _queue(app, 1, 2)
    await app.deliver()
    app.clock.advance(timedelta(hours=1))
    await app.deliver()
    states = await _states(app)
    assert states[1] == (OutboxState.SENT, 1)
    assert states[2] == (OutboxState.FAILED, 1)
    assert len([c for c in app.fake.calls("sendMessage") if c.chat_id == 2]) == 1


async def test_server_error_retried_with_backoff(app: App) -> None:
    await _queue(app, 1)
    app.fake.fail_next("sendMessage", 502, "Bad Gateway", times=2)
    await app.deliver()
    assert (await _states(app))[1] == (OutboxState.PENDING, 1), "not retried before backoff"
    app.clock.advance(timedelta(seconds=1))
    await app.deliver()
    assert (await _states(app))[1] == (OutboxState.PENDING, 2)
    app.clock.advance(timedelta(seconds=5))
    await app.deliver()
    assert (await _states(app))[1] == (OutboxState.SENT, 3)
    assert app.fake.texts(1) == ["hello 1"]


async def test_unexpected_api_error_is_retried_and_others_still_go(app: App) -> None:
    """An answer the sender does not know (401 from a misconfigured proxy, 404...) must not
    stop delivery: that message is retried with backoff, the others are sent."""
    await _queue(app, 1, 2)
    app.fake.fail_next("sendMessage", 401, "Unauthorized", chat_id=1)
    await app.deliver()
    states = await _states(app)
    assert states[1] == (OutboxState.PENDING, 1) and states[2] == (OutboxState.SENT, 1)
    app.clock.advance(timedelta(seconds=1))
    await app.deliver()
    assert (await _states(app))[1] == (OutboxState.SENT, 2)
