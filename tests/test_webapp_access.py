"""The Mini App's identity and access (bot/webapp/auth.py), through a loopback client:
Telegram's signed initData on every request; forged, stale, from-the-future,
another user's and missing initData get 401 and write nothing; a customer reaches only
their own wallet, staff and owner pages only their roles (403, audited as the chat's
gate); every write takes the page's idempotency key; security headers on every answer."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from bot.config import ConfigError, Settings, settings_from_dict
from bot.db.models import AuditEntry, Purchase
from bot.web import build_web_app
from tests.conftest import BACKENDS, base_config, make_settings
from tests.support.flows import hire, join
from tests.support.harness import OWNER_ID, App
from tests.support.webapp import WEB, auth, init_data, sign, user_fields

CUSTOMER, OTHER, CASHIER = 5101, 5102, 6101
KEY = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"


@pytest.fixture
def settings(db_url: str) -> Settings:
    return make_settings(db_url, web=WEB)


@pytest.fixture
async def client(app: App) -> AsyncIterator[TestClient[Any, Any]]:
    web_app = build_web_app(app.biz, bot=app.bot, wake=app.sender.wake)
    async with TestClient(TestServer(web_app)) as test_client:
        yield test_client


def _as(app: App, user_id: int, language: str = "en") -> dict[str, str]:
    return auth(init_data(user_id, app.clock.now(), language))


async def _purchases(app: App) -> int:
    async with app.biz.db.read() as session:
        return int(await session.scalar(select(func.count(Purchase.id))) or 0)


def _forgeries(app: App) -> dict[str, dict[str, str]]:
    """Every way a request's initData can be wrong, for ``CUSTOMER``."""
    now = app.clock.now()
    max_age = app.biz.settings.web.init_data_max_age
    good = dict(parse_qsl(init_data(CUSTOMER, now)))
    other_user = {**good, "user": json.dumps({"id": OTHER, "first_name": "Olga"})}
    unsigned = {k: v for k, v in good.items() if k != "hash"}
    return {
        "missing": {},
        "not tma": {"Authorization": f"Bearer {init_data(CUSTOMER, now)}"},
        "empty": {"Authorization": "tma "},
        "garbage": {"Authorization": "tma %%%&&&==="},
        "no hash": auth(urlencode(unsigned)),
        "other token": auth(init_data(CUSTOMER, now, token="654321:ANOTHER-BOTS-TOKEN")),
        "other user, same hash": auth(urlencode(other_user)),
        "stale": auth(init_data(CUSTOMER, now - timedelta(seconds=max_age + 1))),
        "from the future": auth(init_data(CUSTOMER, now + timedelta(minutes=10))),
        "no user": auth(sign({"auth_date": str(int(now.timestamp())), "query_id": "AAH"})),
        "a bot": auth(sign(user_fields(CUSTOMER, now, is_bot=True))),
        "too long": auth(init_data(CUSTOMER, now) + "&pad=" + "x" * 5000),
    }


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_wrong_init_data_gets_401_and_writes_nothing(
    app: App, client: TestClient[Any, Any]
) -> None:
    customer = await join(app, app.user(CUSTOMER, "en"))
    await hire(app, app.user(CASHIER, "en"))
    before = await app.counts(include_audit=True)
    writes = {
        "wallet/preferences": {"key": KEY, "marketing": "on"},
        "staff/write": {
            "key": KEY, "action": "purchase", "code": customer.card_code, "amount": "500",
        },
    }  # fmt: skip
    for name, headers in _forgeries(app).items():
        for path in ("home", "wallet", "staff", "owner", "owner/client", *writes):
            response = await client.post(f"/app/api/{path}", json=writes.get(path, {}),
                                         headers=headers)  # fmt: skip
            assert response.status == 401, (name, path)
            assert "откройте снова из бота" in (await response.json())["html"]  # default locale
    assert await app.counts(include_audit=True) == before
    assert (await client.post("/app/api/wallet", headers=_as(app, CUSTOMER))).status == 200


async def test_the_age_limit_is_the_configured_one(app: App, client: TestClient[Any, Any]) -> None:
    """``web.init_data_max_age``: data signed exactly that long ago passes, a second
    more does not."""
    await join(app, app.user(CUSTOMER, "en"))
    max_age = app.biz.settings.web.init_data_max_age
    at_limit = app.clock.now() - timedelta(seconds=max_age)
    response = await client.post("/app/api/wallet", headers=auth(init_data(CUSTOMER, at_limit)))
    assert response.status == 200
    app.clock.advance(timedelta(seconds=1))
    response = await client.post("/app/api/wallet", headers=auth(init_data(CUSTOMER, at_limit)))
    assert response.status == 401


async def test_a_customer_sees_only_their_own_wallet(
    app: App, client: TestClient[Any, Any]
) -> None:
    mine = await join(app, app.user(CUSTOMER, "en"))
    theirs = await join(app, app.user(OTHER, "en"))
    html = (await (await client.post("/app/api/wallet", headers=_as(app, CUSTOMER))).json())["html"]
    assert mine.card_code in html and theirs.card_code not in html
    assert "<svg" in html  # the card's QR
    home = await (await client.post("/app/api/home", headers=_as(app, CUSTOMER))).json()
    assert home["pages"] == ["wallet"]
    audits = await _audit_rows(app)
    for path in ("staff", "staff/find", "staff/write", "owner", "owner/client"):
        body = {"query": theirs.card_code, "key": KEY, "action": "visit", "code": theirs.card_code}
        response = await client.post(f"/app/api/{path}", json=body, headers=_as(app, CUSTOMER))
        assert response.status == 403, path
        assert theirs.card_code not in await response.text()
    assert await _audit_rows(app) == audits + 5  # each refusal audited, as the chat's gate
    assert await _purchases(app) == 0


async def _audit_rows(app: App) -> int:
    async with app.biz.db.read() as session:
        return int(await session.scalar(select(func.count(AuditEntry.id))) or 0)


async def test_a_stranger_is_told_to_join(app: App, client: TestClient[Any, Any]) -> None:
    before = await app.counts(include_audit=True)
    response = await client.post("/app/api/wallet", headers=_as(app, 7777))
    assert response.status == 200
    assert "send /start" in (await response.json())["html"]
    assert await app.counts(include_audit=True) == before


async def test_staff_and_owner_pages_follow_the_role(
    app: App, client: TestClient[Any, Any]
) -> None:
    await hire(app, app.user(CASHIER, "en"))
    home = await (await client.post("/app/api/home", headers=_as(app, CASHIER))).json()
    assert home["pages"] == ["staff"]
    assert (await client.post("/app/api/staff", headers=_as(app, CASHIER))).status == 200
    assert (await client.post("/app/api/owner", headers=_as(app, CASHIER))).status == 403
    owner_home = await (await client.post("/app/api/home", headers=_as(app, OWNER_ID))).json()
    assert owner_home["pages"] == ["wallet", "staff", "owner"] or owner_home["pages"] == [
        "staff", "owner",
    ]  # fmt: skip
    assert (await client.post("/app/api/owner", headers=_as(app, OWNER_ID))).status == 200


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_a_staff_purchase_is_recorded_once_per_key_and_told_in_the_chat(
    app: App, client: TestClient[Any, Any]
) -> None:
    customer = await join(app, app.user(CUSTOMER, "en"))
    await hire(app, app.user(CASHIER, "en"))
    await app.deliver()
    app.fake.clear()
    write = {"key": KEY, "action": "purchase", "code": customer.card_code, "amount": "1 500",
             "service": "oil"}  # fmt: skip
    first = await client.post("/app/api/staff/write", json=write, headers=_as(app, CASHIER))
    assert first.status == 200
    assert "recorded" in (await first.json())["html"]
    again = await client.post("/app/api/staff/write", json=write, headers=_as(app, CASHIER))
    assert "Already recorded" in (await again.json())["html"]
    assert await _purchases(app) == 1
    await app.deliver()
    notices = app.fake.texts(CUSTOMER)
    assert len(notices) == 1 and "1,500" in notices[0], notices
    other_key = {**write, "key": KEY.replace("0f", "aa")}
    await client.post("/app/api/staff/write", json=other_key, headers=_as(app, CASHIER))
    assert await _purchases(app) == 2  # a new key is a new purchase
    assert await app.balance_consistent()


async def test_bad_writes_are_refused_and_write_nothing(
    app: App, client: TestClient[Any, Any]
) -> None:
    customer = await join(app, app.user(CUSTOMER, "en"))
    await hire(app, app.user(CASHIER, "en"))
    await join(app, app.user(CASHIER, "en"), name="Cashier")  # staff with their own card
    cashier_card = (await app.customer(telegram_id=CASHIER)).card_code  # type: ignore[union-attr]
    base = {"key": KEY, "action": "purchase", "code": customer.card_code, "amount": "500"}
    refused_400 = [
        {**base, "key": "short"}, {**base, "key": "x" * 41}, {**base, "key": "bad key!"},
        {k: v for k, v in base.items() if k != "key"}, {**base, "action": "refund"},
        {**base, "action": "adjust"}, {**base, "code": "A B"}, {**base, "amount": 500},
        {**base, "amount": "5\n00"}, {**base, "amount": "9" * 100},
    ]  # fmt: skip
    refused_422 = [
        {**base, "amount": "abc"}, {**base, "amount": "-5"}, {**base, "amount": "1,5000"},
        {**base, "service": "unknown-tag"}, {**base, "code": "NOSUCH"},
        {**base, "code": cashier_card},  # never on their own account
        {**base, "action": "redeem", "points": "999999"},
    ]  # fmt: skip
    before = await app.counts()
    for body in refused_400:
        response = await client.post("/app/api/staff/write", json=body, headers=_as(app, CASHIER))
        assert response.status == 400, body
    for raw in ("{not json", "[1, 2]", "x" * 5000):
        response = await client.post("/app/api/staff/write", data=raw, headers=_as(app, CASHIER))
        assert response.status == 400, raw
    for body in refused_422:
        response = await client.post("/app/api/staff/write", json=body, headers=_as(app, CASHIER))
        assert response.status == 422, body
        assert (await response.json())["target"] == "notice"
    assert await app.counts() == before


async def test_the_offers_opt_in_and_language_from_the_wallet(
    app: App, client: TestClient[Any, Any]
) -> None:
    customer = await join(app, app.user(CUSTOMER, "en"))
    assert customer.marketing_opt_in is False
    on = {"key": KEY, "marketing": "on"}
    response = await client.post("/app/api/wallet/preferences", json=on, headers=_as(app, CUSTOMER))
    assert response.status == 200 and "Turn off" in (await response.json())["html"]
    assert (await app.customer(telegram_id=CUSTOMER)).marketing_opt_in is True  # type: ignore[union-attr]
    ru = {"key": KEY.replace("0f", "bb"), "language": "ru"}
    response = await client.post("/app/api/wallet/preferences", json=ru, headers=_as(app, CUSTOMER))
    assert "Ваша карта" in (await response.json())["html"]
    before = await app.counts()
    for bad in ({"key": KEY, "language": "de"}, {"key": KEY, "marketing": "yes"}, {"key": KEY}):
        response = await client.post("/app/api/wallet/preferences", json=bad,
                                     headers=_as(app, CUSTOMER))  # fmt: skip
        assert response.status == 400, bad
    assert await app.counts() == before


async def test_security_headers_and_no_inline_script(
    app: App, client: TestClient[Any, Any]
) -> None:
    for path in ("/app/", "/app/static/app.js", "/app/static/app.css"):
        response = await client.get(path)
        assert response.status == 200, path
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self' https://telegram.org" in csp and "unsafe" not in csp
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "no-referrer"
    page = await (await client.get("/app/")).text()
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", page) == []  # every script is a file
    refused = await client.post("/app/api/wallet")
    assert refused.status == 401 and "Content-Security-Policy" in refused.headers


async def test_nothing_personal_in_urls_or_logs(
    app: App, client: TestClient[Any, Any], caplog: pytest.LogCaptureFixture
) -> None:
    """Questions travel in POST bodies; the logs name paths and reasons, never the data."""
    customer = await join(app, app.user(CUSTOMER, "en", name="Olga"))
    await hire(app, app.user(CASHIER, "en"))
    caplog.set_level("INFO")  # what a running bot logs
    caplog.clear()
    phone = customer.phone
    await client.post("/app/api/staff/find", json={"query": phone}, headers=_as(app, CASHIER))
    await client.post("/app/api/wallet", headers=_as(app, CUSTOMER))
    await client.post("/app/api/wallet", headers=auth("user=%7B%22id%22%3A5101%7D&hash=00"))
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for secret in (phone, "Olga", str(CUSTOMER), "hash="):
        assert secret not in logged, secret


async def test_off_without_a_public_url(app: App, db_url: str) -> None:
    off = app.variant(make_settings(db_url))
    async with TestClient(TestServer(build_web_app(off.biz, bot=off.bot))) as test_client:
        assert (await test_client.get("/app/")).status == 404
        assert (await test_client.post("/app/api/wallet")).status == 404


def test_the_public_url_must_be_https(db_url: str) -> None:
    with pytest.raises(ConfigError, match="https"):
        settings_from_dict(base_config(db_url, web={"public_url": "http://bot.example"}),
                           use_env=False)  # fmt: skip
