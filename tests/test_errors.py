"""A crash in one handler never stops the bot: the error is logged with the update id and
the user gets a short apology (SPEC.md, Bad input)."""

from __future__ import annotations

import asyncio
import logging
import threading
from pathlib import Path

import pytest
from sqlalchemy import select, text

from bot.db.models import OutboxMessage
from bot.logs import UpdateIdFilter
from bot.override_report import OverrideReporter
from bot.texts import OverrideProblem
from tests.support.flows import hire, join
from tests.support.harness import OWNER_ID, App


async def test_broken_owner_template_sends_the_shipped_text_and_tells_the_owners(
    app: App, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 11: a broken override is reported to the owner and the default is used,
    nothing is lost."""
    await join(app, app.user(5001, "en"), name="Ivan")
    override = tmp_path / "en"
    override.mkdir()
    # An owner's edited template that names a variable the message does not have.
    (override / "customer.html").write_text(
        "{% block balance %}{{ no_such_thing.value }}{% endblock %}", encoding="utf-8"
    )
    broken = app.variant(override_dir=tmp_path)
    user = broken.user(5001, "en")
    caplog.handler.addFilter(UpdateIdFilter())
    with caplog.at_level(logging.ERROR):
        update = user.build_message("/balance")
        await user.feed(update)
    shipped = app.fake.last(5001).text
    assert "Sorry" not in shipped and "0" in shipped and "points" in shipped
    report = [r for r in caplog.records if r.getMessage().startswith("owner's template")]
    assert report and report[0].update_id == str(update.update_id)
    assert report[0].where == "en/customer.balance"  # type: ignore[attr-defined]
    await broken.biz.texts.on_problem.wait()  # type: ignore[union-attr]
    await broken.deliver()
    told = app.fake.last(OWNER_ID).text
    assert "en/customer.balance" in told and "UndefinedError" in told
    await user.send("/balance")  # reported once, the shipped text again
    assert app.fake.last(5001).text == shipped
    await broken.biz.texts.on_problem.wait()  # type: ignore[union-attr]
    assert await broken.deliver() == 0


async def test_a_notice_is_rendered_when_sent_and_a_broken_override_is_reported_then(
    app: App, tmp_path: Path
) -> None:
    """The purchase notice is queued as a template (``deferred_text``), not rendered in
    the purchase's transaction: the owner's override applies when it is sent, and a broken
    one is reported to the owners then while the customer gets the shipped text."""
    customer = await join(app, app.user(5001, "en"), name="Ivan")
    cashier = app.user(7001, "en")
    await hire(app, cashier)
    await app.deliver()
    override = tmp_path / "en"
    override.mkdir()
    (override / "customer.html").write_text(
        "{% block points_earned %}{{ no_such_thing.value }}{% endblock %}", encoding="utf-8"
    )
    broken = app.variant(override_dir=tmp_path)
    await broken.user(7001, "en").send(f"/purchase {customer.card_code} 100")
    assert "Purchase" in app.fake.last(7001).text
    assert broken.biz.texts.problems == {}  # nothing rendered in the transaction
    async with app.biz.db.read() as session:
        queued = await session.scalar(
            select(OutboxMessage).where(OutboxMessage.customer_id == customer.id)
            .order_by(OutboxMessage.id.desc())
        )  # fmt: skip
    assert queued is not None and queued.text is None
    assert queued.template == "customer.points_earned" and queued.locale == "en"
    await broken.deliver()
    assert "Thank you for your purchase" in app.fake.last(5001).text  # the shipped text
    assert "en/customer.points_earned" in broken.biz.texts.problems
    await broken.biz.texts.on_problem.wait()  # type: ignore[union-attr]
    await broken.deliver()
    assert "en/customer.points_earned" in app.fake.last(OWNER_ID).text
    async with app.biz.db.read() as session:
        sent = await session.get(OutboxMessage, queued.id)
    assert sent is not None and sent.state == "sent"
    assert sent.text == app.fake.texts(5001)[-1]  # kept as sent


async def test_a_problem_found_on_another_thread_is_reported_on_the_bots_loop(
    app: App,
) -> None:
    """A render on the SQLite writer thread (``Database.run_write``) that hits a broken
    override: the report is handed to the bot's event loop, and the owners are told."""
    reporter = app.biz.texts.on_problem
    assert isinstance(reporter, OverrideReporter)
    problem = OverrideProblem(where="en/customer.balance", error="UndefinedError: x")
    worker = threading.Thread(target=reporter, args=(problem,))
    worker.start()
    worker.join()
    await asyncio.sleep(0)  # the loop runs the handed-over callback
    await reporter.wait()
    await app.deliver()
    assert "en/customer.balance" in app.fake.last(OWNER_ID).text


async def test_a_crash_apologises_logs_the_update_and_the_bot_goes_on(
    app: App, caplog: pytest.LogCaptureFixture
) -> None:
    """An unexpected failure (here the database losing a table under the bot) gets a short
    apology and an error log line carrying the update id; the next update is handled."""
    user = app.user(5001, "en")
    await join(app, user, name="Ivan")
    async with app.biz.db.engine.begin() as conn:
        await conn.execute(text("ALTER TABLE ledger_entries RENAME TO ledger_gone"))
    caplog.handler.addFilter(UpdateIdFilter())
    try:
        with caplog.at_level(logging.ERROR):
            update = user.build_message("/mydata")
            await user.feed(update)
    finally:
        async with app.biz.db.engine.begin() as conn:
            await conn.execute(text("ALTER TABLE ledger_gone RENAME TO ledger_entries"))
    assert "Sorry, something went wrong" in app.fake.last(5001).text
    failure = [r for r in caplog.records if r.getMessage() == "handler failed"]
    assert failure and failure[0].update_id == str(update.update_id)
    await user.send("/help")  # the next update is handled normally
    assert "/balance" in app.fake.last(5001).text
