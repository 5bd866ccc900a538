"""Authorization matrix (SPEC.md, Roles): every staff and owner command and callback, sent
by someone without the role, is refused with "not available", writes nothing, and is
audited as denied. Forged callback data and reused or expired invites are refused."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.db.models import AuditEntry
from bot.testing.telegram_double import ChatUser, buttons
from tests.support.flows import hire, join
from tests.support.harness import App

STAFF_COMMANDS = [
    "/purchase {code} 1500",
    "/visit {code}",
    "/redeem {code} 10",
    "/refund 1",
    "/note {code} hello",
    "/find {code}",
    "/addcustomer +79160009999 Eve",
]
OWNER_COMMANDS = [
    "/adjust {code} +100 gift",
    "/invite",
    "/staff",
    "/client {code}",
    "/rescore",
    "/kpi",
]
STAFF_CALLBACKS = ["ca:purchase:{cid}", "ca:redeem:{cid}"]
OWNER_CALLBACKS = ["srm:{sid}"]

CUSTOMER, REMOVED_STAFF, STRANGER, STAFF = 5001, 6002, 7001, 6001


async def _world(app: App) -> dict[str, object]:
    """A customer with a purchase, an active cashier, a removed cashier, a stranger."""
    customer = await join(app, app.user(CUSTOMER, "en"), name="Ivan")
    await hire(app, app.user(STAFF, "en"))
    removed = app.user(REMOVED_STAFF, "en")
    await hire(app, removed)
    await app.owner.send("/staff")
    listing = app.fake.last(app.owner.user_id)
    remove = [data for text, data in buttons(listing) if "Test" in text][-1]
    await app.owner.click(remove, listing)
    await app.user(STAFF, "en").send(f"/purchase {customer.card_code} 1000")
    return {"code": customer.card_code, "cid": customer.id, "sid": remove.split(":")[1]}


async def _denied(app: App, user: ChatUser, action: str) -> None:
    before = await app.counts()
    audit_before = await _denials(app)
    if action.startswith("/"):
        await user.send(action)
        reply = app.fake.last(user.user_id).text
    else:
        await user.click(action)
        reply = app.fake.calls("answerCallbackQuery")[-1].params.get("text", "")
    assert "not available" in reply, (user.user_id, action, reply)
    assert await app.counts() == before, f"{action} by {user.user_id} wrote something"
    assert await _denials(app) == audit_before + 1, f"{action} by {user.user_id} not audited"


async def _denials(app: App) -> int:
    async with app.biz.db.read() as session:
        rows = await session.scalars(select(AuditEntry).where(AuditEntry.outcome == "denied"))
        return len(list(rows))


@pytest.mark.parametrize("who", [CUSTOMER, REMOVED_STAFF, STRANGER])
async def test_privileged_actions_refused(app: App, who: int) -> None:
    ids = await _world(app)
    user = app.user(who, "en")
    for template in STAFF_COMMANDS + OWNER_COMMANDS + STAFF_CALLBACKS + OWNER_CALLBACKS:
        await _denied(app, user, template.format(**ids))


async def test_staff_cannot_use_owner_actions(app: App) -> None:
    ids = await _world(app)
    for template in OWNER_COMMANDS + OWNER_CALLBACKS:
        await _denied(app, app.user(STAFF, "en"), template.format(**ids))


async def test_forged_redemption_callback_refused(app: App) -> None:
    """Another customer presses a confirmation button carrying someone else's redemption."""
    ids = await _world(app)
    await app.owner.send(f"/adjust {ids['code']} +500 gift")
    await app.user(STAFF, "en").send(f"/redeem {ids['code']} 100")
    await app.deliver()
    prompt = app.fake.last(CUSTOMER)
    confirm = buttons(prompt)[0][1]
    mallory = app.user(5002, "en")
    await join(app, mallory, name="Mallory")
    before = await app.counts()
    await mallory.click(confirm)
    answer = app.fake.calls("answerCallbackQuery")[-1].params.get("text", "")
    assert "not yours" in answer
    assert await app.counts() == before
    victim = await app.customer(id=ids["cid"])
    assert victim is not None and victim.balance == 550  # 50 earned + 500 adjusted, untouched


async def test_reused_invite_refused(app: App) -> None:
    await app.owner.send("/invite")
    link = app.fake.last(app.owner.user_id).text
    token = link.split("?start=")[1].split()[0]
    await app.user(6001, "en").send(f"/start {token}")
    before = await app.counts()
    second = app.user(6003, "en")
    await second.send(f"/start {token}")
    assert "already been used" in app.fake.last(6003).text
    assert await app.counts() == before
    await second.send("/purchase ABCDEF 100")
    assert "not available" in app.fake.last(6003).text


async def test_expired_invite_refused(app: App) -> None:
    await app.owner.send("/invite")
    token = app.fake.last(app.owner.user_id).text.split("?start=")[1].split()[0]
    app.clock.advance(timedelta(hours=app.biz.settings.staff.invite_ttl_hours, seconds=1))
    before = await app.counts()
    await app.user(6001, "en").send(f"/start {token}")
    assert "expired" in app.fake.last(6001).text
    assert await app.counts() == before


async def test_unknown_invite_refused(app: App) -> None:
    before = await app.counts()
    await app.user(6001, "en").send("/start inv_forged-token")
    assert "not valid" in app.fake.last(6001).text
    assert await app.counts() == before


async def test_privileged_reads_are_audited_with_ids_only(app: App) -> None:
    """SPEC.md, Roles and Privacy: every privileged action is audited; the audit log keeps
    ids, not personal data (no search text, names or phones)."""
    customer = await join(app, app.user(CUSTOMER, "en"), name="Ivan Petrov", phone="+79161112233")
    await hire(app, app.user(STAFF, "en"))
    await app.user(STAFF, "en").send("/find Petrov")
    await app.user(STAFF, "en").send(f"/start c_{customer.card_code}")
    await app.owner.send(f"/client {customer.card_code}")
    await app.owner.send("/staff")
    await app.owner.send("/kpi")
    async with app.biz.db.read() as session:
        rows = list(await session.scalars(select(AuditEntry).order_by(AuditEntry.id)))
    actions = [(r.action, r.actor_tg_id, r.outcome) for r in rows]
    for expected in [
        ("find", STAFF, "ok"),
        ("card", STAFF, "ok"),
        ("client", 1000, "ok"),
        ("staff_list", 1000, "ok"),
        ("kpi", 1000, "ok"),
    ]:
        assert expected in actions, actions
    dump = repr([(r.action, r.details, r.update_key) for r in rows])
    for personal in ("Ivan", "Petrov", "79161112233"):
        assert personal not in dump
