"""A broadcast is launched once per wizard, whatever the transport (issue 19, item 1):
a double-tapped Send posted to the webhook at once, with the default memory FSM storage,
makes one campaign and one offer per recipient. Item 8: stopping a finished broadcast."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select, update

from bot.config import Settings
from bot.db.models import Campaign, Customer, Offer
from bot.testing.telegram_double import find_button
from bot.web import SECRET_HEADER, build_web_app
from tests.conftest import BACKENDS, make_settings
from tests.support.flows import join
from tests.support.harness import OWNER_ID, App

SECRET = "s3cret-token-for-tests"
PATH = "/telegram/webhook"


@pytest.fixture
def settings(db_url: str) -> Settings:
    return make_settings(
        db_url,
        web={"webhook_secret": SECRET, "webhook_path": PATH},
        campaigns={"holdout_percent": 0},
    )


async def _press(app: App, label: str) -> None:
    call = app.fake.last(OWNER_ID)
    await app.owner.click(find_button(call, label), call)


async def _ready_to_send(app: App) -> tuple[str, Any]:
    """Everyone opted in, and the wizard up to its confirmation; the Send button's data
    and message."""
    async with app.biz.db.write() as session:
        await session.execute(update(Customer).values(marketing_opt_in=True))
    await app.owner.send("/broadcast")
    await _press(app, "Next")
    await _press(app, "Write my own text")
    await app.owner.send("Hi {{ name }}")
    await _press(app, "Bonus points")
    await app.owner.send("50")
    await _press(app, "7 days")
    confirm = app.fake.last(OWNER_ID)
    return find_button(confirm, "Send"), confirm


async def _rows(app: App, model: Any) -> list[Any]:
    async with app.biz.db.read() as session:
        return list(await session.scalars(select(model)))


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_a_double_tapped_send_by_webhook_with_memory_storage_launches_once(
    app: App,
) -> None:
    for n in (1, 2, 3):
        await join(app, app.user(5100 + n, "en", f"C{n}"))
    data, confirm = await _ready_to_send(app)
    taps = [app.owner.build_callback(data, confirm) for _ in range(2)]
    assert taps[0].callback_query.id != taps[1].callback_query.id  # two callback ids
    headers = {SECRET_HEADER: SECRET, "Content-Type": "application/json"}
    async with TestClient(TestServer(build_web_app(app.biz, app.dp, app.bot))) as client:
        responses = await asyncio.gather(
            *(client.post(PATH, data=t.model_dump_json(exclude_none=True), headers=headers)
              for t in taps)
        )  # fmt: skip
        assert [r.status for r in responses] == [200, 200]
    [campaign] = await _rows(app, Campaign)
    offers = await _rows(app, Offer)
    assert len(offers) == 3 and len({o.customer_id for o in offers}) == 3
    assert all(o.source == f"campaign:{campaign.id}" for o in offers)
    await app.deliver()
    for n in (1, 2, 3):
        assert len([t for t in app.fake.texts(5100 + n) if t.startswith("Hi ")]) == 1


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_two_sends_of_one_wizard_without_isolation_launch_once(app: App) -> None:
    """The wizard's own id is the launch's key: even fed with no event isolation at all
    (two processes sharing a state), two Send callbacks make one campaign."""
    for n in (1, 2):
        await join(app, app.user(5200 + n, "en", f"D{n}"))
    data, confirm = await _ready_to_send(app)
    state = app.dp.fsm.get_context(bot=app.bot, chat_id=OWNER_ID, user_id=OWNER_ID)
    snapshot = (await state.get_state(), await state.get_data())
    await app.owner.click(data, confirm)
    await state.set_state(snapshot[0])  # the second process still sees the wizard
    await state.set_data(snapshot[1])
    await app.owner.click(data, confirm)
    assert len(await _rows(app, Campaign)) == 1
    assert len(await _rows(app, Offer)) == 2


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_stopping_a_finished_broadcast_leaves_it_finished(app: App) -> None:
    """Issue 19, item 8: Stop after everything was delivered changes nothing."""
    for n in (1, 2):
        await join(app, app.user(5400 + n, "en", f"E{n}"))
    data, confirm = await _ready_to_send(app)
    await app.owner.click(data, confirm)
    progress = app.fake.last(OWNER_ID)
    assert await app.deliver() == 2
    await app.owner.click(find_button(progress, "Stop"), progress)
    assert "already finished" in (app.fake.last(OWNER_ID).text or "")
    [campaign] = await _rows(app, Campaign)
    assert campaign.state == "active"
    assert all(o.valid_until > app.clock.now() for o in await _rows(app, Offer))
