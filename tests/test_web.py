"""The HTTP side (bot/web.py) through a loopback client: the webhook with and without its
secret, malformed bodies, 200 only once the effect is committed, a re-delivered update
applied once; /livez, /readyz and /metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from bot.app import build_business
from bot.config import Settings
from bot.db.models import Purchase
from bot.web import SECRET_HEADER, build_web_app
from tests.conftest import BACKENDS, make_settings
from tests.support.flows import hire, join
from tests.support.harness import App

SECRET = "s3cret-token-for-tests"
PATH = "/telegram/webhook"
CASHIER = 6001


@pytest.fixture
def settings(db_url: str) -> Settings:
    return make_settings(db_url, web={"webhook_secret": SECRET, "webhook_path": PATH})


@pytest.fixture
async def client(app: App) -> AsyncIterator[TestClient[Any, Any]]:
    async with TestClient(TestServer(build_web_app(app.biz, app.dp, app.bot))) as test_client:
        yield test_client


def _update(update_id: int, user_id: int, text: str) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": 1_700_000_000,
            "chat": {"id": user_id, "type": "private", "first_name": "Olga"},
            "from": {"id": user_id, "is_bot": False, "first_name": "Olga", "language_code": "en"},
            "text": text,
            "entities": [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}],
        },
    }


async def _purchases(app: App) -> int:
    async with app.biz.db.read() as session:
        return int(await session.scalar(select(func.count(Purchase.id))) or 0)


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_webhook_checks_the_secret_and_answers_after_the_commit(
    app: App, client: TestClient[Any, Any]
) -> None:
    customer = await join(app, app.user(5001, "en"))
    await hire(app, app.user(CASHIER, "en"))
    update = _update(900001, CASHIER, f"/purchase {customer.card_code} 250")
    before = await app.counts(include_audit=True)
    for headers in ({}, {SECRET_HEADER: "wrong-secret-value"}):
        response = await client.post(PATH, json=update, headers=headers)
        assert response.status == 401
    for body in ("{not json", '{"update_id": "x", "message": 5}', "[1, 2]"):
        response = await client.post(
            PATH, data=body, headers={SECRET_HEADER: SECRET, "Content-Type": "application/json"}
        )
        assert response.status == 400, body
    assert await app.counts(include_audit=True) == before

    response = await client.post(PATH, json=update, headers={SECRET_HEADER: SECRET})
    assert response.status == 200
    assert await _purchases(app) == 1  # committed before Telegram got its 200
    assert "recorded" in app.fake.last(CASHIER).text
    again = await client.post(PATH, json=update, headers={SECRET_HEADER: SECRET})
    assert again.status == 200
    assert await _purchases(app) == 1
    assert app.fake.last(CASHIER).text.startswith("Already recorded")
    assert await app.balance_consistent()


async def test_health_and_metrics(app: App, client: TestClient[Any, Any]) -> None:
    assert (await client.get("/livez")).status == 200
    ready = await client.get("/readyz")
    assert ready.status == 200 and await ready.text() == "ready"
    await client.post(PATH, json=_update(900002, 5002, "/help"), headers={SECRET_HEADER: SECRET})
    await client.post(PATH, json=_update(900003, 1000, "/adjust"), headers={SECRET_HEADER: SECRET})
    metrics = await (await client.get("/metrics")).text()
    assert 'loyalty_updates_total{outcome="handled",type="message"}' in metrics
    assert 'loyalty_updates_total{outcome="refused",type="message"}' in metrics
    assert "loyalty_handler_seconds_count" in metrics
    assert "loyalty_worker_lease_held" in metrics


async def test_readyz_says_what_is_down(tmp_path: Any) -> None:
    settings = make_settings(
        f"sqlite+aiosqlite:///{tmp_path}",  # a directory: no database opens there
        telegram={"fsm_redis_url": "redis://127.0.0.1:1/0"},
    )
    biz = build_business(settings)
    try:
        async with TestClient(TestServer(build_web_app(biz))) as test_client:
            response = await test_client.get("/readyz")
            assert response.status == 503
            assert "database" in await response.text() and "redis" in await response.text()
            assert (await test_client.post(PATH, json={})).status in (404, 405)  # no webhook
    finally:
        await biz.db.dispose()


async def test_no_webhook_without_a_secret(app: App, db_url: str) -> None:
    """aiogram's handler would take any request when no secret is set: refused at build."""
    unsafe = app.variant(make_settings(db_url))
    with pytest.raises(ValueError, match="secret"):
        build_web_app(unsafe.biz, unsafe.dp, unsafe.bot)
