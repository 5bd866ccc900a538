"""A crash in one handler never stops the bot: the error is logged with the update id and
the user gets a short apology (SPEC.md, Bad input)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bot.logs import UpdateIdFilter
from tests.support.flows import join
from tests.support.harness import App


async def test_broken_owner_template_apologises_and_bot_goes_on(
    app: App, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
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
    assert "Sorry, something went wrong" in app.fake.last(5001).text
    failure = [r for r in caplog.records if r.getMessage() == "handler failed"]
    assert failure and failure[0].update_id == str(update.update_id)
    await user.send("/help")  # the next update is handled normally
    assert "/balance" in app.fake.last(5001).text
