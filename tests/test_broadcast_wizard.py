"""The /broadcast wizard end to end: real Updates through the production dispatcher, the
Bot API double, a real database (issue 12, "/broadcast wizard" and its tests).

"audience by filters ... with the live count after each filter; a message from a template
or free text with placeholders (Jinja2 sandbox), an optional offer ...; a preview rendered
for a real sample customer and sent to the owner; a random holdout group ... kept out of
the send; an explicit confirmation with the audience size and the estimated duration at
Telegram's limit; then the outbox. A progress message edited as delivery goes
(throttled), a cancel button that stops what is not yet sent, a final report. The
frequency cap and quiet hours apply."
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select, update

from bot.config import Settings
from bot.db.models import (
    Campaign,
    CampaignMember,
    CampaignState,
    Customer,
    CustomerScore,
    Offer,
    OutboxMessage,
)
from bot.services.outbox.contact import ContactVerdict, queue_for
from bot.testing.telegram_double import Call, buttons, find_button
from handlers.keyboards import BroadcastStep, BroadcastStop
from handlers.segments import SegmentAudience
from tests.conftest import BACKENDS, make_settings
from tests.support.flows import hire, join
from tests.support.harness import OWNER_ID, App

FIELDS = [
    {"code": "make", "labels": {"ru": "Марка", "en": "Make"}},
    {"code": "model", "labels": {"ru": "Модель", "en": "Model"}},
]


@pytest.fixture
def settings(db_url: str) -> Settings:
    return make_settings(
        db_url,
        profile={"fields": FIELDS},
        campaigns={"progress_seconds": 0.01, "holdout_percent": 10},
        contact={"max_marketing_per_week": 2},
    )


async def member(app: App, n: int, name: str, opt_in: bool = True, **profile: str) -> Customer:
    """A customer who joined through the bot, then set opt-in and profile answers."""
    customer = await join(app, app.user(5000 + n, "en", name), name=name)
    async with app.biz.db.write() as session:
        await session.execute(
            update(Customer)
            .where(Customer.id == customer.id)
            .values(marketing_opt_in=opt_in, profile=profile or None)
        )
    return customer


def last(app: App) -> Call:
    return app.fake.last(OWNER_ID)


async def press(app: App, label: str) -> None:
    call = last(app)
    await app.owner.click(find_button(call, label), call)


async def rows(app: App, model: Any) -> list[Any]:
    async with app.biz.db.read() as session:
        return list(await session.scalars(select(model).order_by(model.id)))


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_filters_own_text_offer_preview_send_progress_and_report(app: App) -> None:
    ann = await member(app, 1, "Ann", make="LADA", model="Vesta")
    bob = await member(app, 2, "Bob", make="lada", model="Granta")
    await member(app, 3, "Cat", make="Kia")
    await member(app, 4, "Dan", opt_in=False, make="LADA")

    await app.owner.send("/broadcast")
    assert "Customers now: <b>4</b>" in last(app).text
    await press(app, "Marketing opt-in only")
    assert "Customers now: <b>3</b>" in last(app).text  # the live count after the filter
    await press(app, "Make")
    await press(app, "LADA")
    panel = last(app).text
    assert "Make: LADA" in panel and "Customers now: <b>2</b>" in panel

    await press(app, "Next")
    await press(app, "Write my own text")
    await app.owner.send("Hi {{ name }}! Your {{ make }} {{ model }} <needs> oil & care")
    await press(app, "Bonus points")
    await app.owner.send("150")
    await press(app, "7 days")

    texts = app.fake.texts(OWNER_ID)
    preview = texts[-2]
    # a real customer of the audience; the owner's own "<" and "&" escaped, not markup
    assert preview.startswith("Hi Ann! Your LADA Vesta &lt;needs&gt; oil &amp; care"), preview
    assert "+150 points" in preview and "PREVIEW" in preview
    confirm = last(app).text
    assert "Audience: 2." in confirm and "about 0 s" in confirm
    rate = app.biz.settings.outbox.rate_per_second
    assert f"({rate:,.0f} messages a second)" in confirm
    assert await rows(app, Campaign) == []  # nothing written before the confirmation

    await press(app, "Send")
    [campaign] = await rows(app, Campaign)
    # untitled: named in the owner's language at the business's local time (not UTC 12:00)
    assert campaign.name.startswith("Broadcast ") and "3:00" in campaign.name, campaign.name
    assert campaign.state == CampaignState.ACTIVE
    members = await rows(app, CampaignMember)
    assert sorted(m.customer_id for m in members) == [ann.id, bob.id]
    recipients = {m.customer_id for m in members if not m.held_out}
    assert "Stop sending" in str(buttons(last(app)))

    await app.deliver()
    await app.dp["background"].wait()
    report = last(app).text
    assert f"Broadcast #{campaign.id} finished: delivered {len(recipients)}" in report
    offers = await rows(app, Offer)
    assert {o.customer_id for o in offers} == recipients
    assert all(o.source == f"campaign:{campaign.id}" and o.kind == "points" for o in offers)
    # each member records what was sent to them (nothing for the held out)
    outbox = {m.id: m for m in await rows(app, OutboxMessage)}
    by_offer = {o.id: o for o in offers}
    for m in await rows(app, CampaignMember):
        if m.held_out:
            assert (m.outbox_id, m.offer_id) == (None, None)
        else:
            assert outbox[m.outbox_id].customer_id == m.customer_id
            assert by_offer[m.offer_id].customer_id == m.customer_id
    for customer, chat in ((ann, 5001), (bob, 5002)):
        got = [t for t in app.fake.texts(chat) if "oil &amp; care" in t]
        if customer.id in recipients:
            [text] = got
            code = next(o.code for o in offers if o.customer_id == customer.id)
            assert code in text and customer.name in text
        else:
            assert got == []  # held out: nothing
    assert not [t for t in app.fake.texts(5003) if "care" in t]  # Kia: not in the audience
    assert not [t for t in app.fake.texts(5004) if "care" in t]  # no consent


async def test_placeholder_failures_are_caught_at_the_preview_for_the_whole_audience(
    app: App,
) -> None:
    await member(app, 1, "Ann", make="LADA", model="Vesta")
    await member(app, 2, "Bob", make="Kia")  # no model
    await member(app, 3, "Cat")  # no profile at all
    before = await app.counts()

    await app.owner.send("/broadcast")
    await press(app, "Next")
    await press(app, "Write my own text")
    await app.owner.send("Hello {{ name")  # broken Jinja: refused on the spot
    assert "cannot be used" in last(app).text
    await app.owner.send("Hello {{ name }}, how is your {{ model }}?")
    await press(app, "No offer")
    failed = last(app).text
    assert "fails for 2 of 3 customers" in failed, failed
    assert "&#39;model&#39; is undefined" in failed
    assert "Send" not in [label for label, _ in buttons(last(app))]
    # a forged Send anyway: launch renders every message again and refuses the whole send
    await app.owner.click(BroadcastStep(action="send").pack(), last(app))
    assert "nothing was sent" in str(app.fake.calls("answerCallbackQuery")[-1].params)
    assert await app.counts() == before
    await press(app, "Change the message")
    await press(app, "Write my own text")
    await app.owner.send("Hello {{ name }}!")
    await press(app, "No offer")
    assert "Ready to send" in last(app).text
    assert await app.counts() == before  # nothing written by the whole conversation


async def test_template_message_and_quit_mid_way(app: App) -> None:
    await member(app, 1, "Ann")
    before = await app.counts()
    await app.owner.send("/broadcast")
    await press(app, "Next")
    await press(app, "miss you")
    await press(app, "No offer")
    assert last(app).text.startswith("<b>Ready to send</b>")
    assert app.fake.texts(OWNER_ID)[-2].startswith("Ann, we miss you!")
    await press(app, "Quit")
    assert "nothing was sent" in last(app).text
    stale = app.fake.sent(OWNER_ID)[-1]
    await app.owner.click(BroadcastStep(action="send").pack(), stale)  # a stale Send
    assert await app.counts() == before
    assert await rows(app, Campaign) == []

    await app.owner.send("/broadcast")  # /cancel mid-way ends it too
    await app.owner.send("/cancel")
    await app.owner.click(BroadcastStep(action="next").pack(), stale)
    assert await app.counts() == before


# The sender claims about a second of sending at ``outbox.rate_per_second``: at 4 a second a
# claim is 4 messages, so a test can stop or watch a broadcast between two claims.
FOUR_A_SECOND = {"rate_per_second": 4, "per_chat_per_second": 1000}


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_stop_mid_delivery_cancels_what_is_not_sent(app: App, settings: Settings) -> None:
    app = app.variant(settings.model_copy(update={
        "outbox": settings.outbox.model_copy(update=FOUR_A_SECOND),
        "campaigns": settings.campaigns.model_copy(update={"holdout_percent": 0}),
    }))  # fmt: skip
    for n in range(1, 8):
        await member(app, n, f"C{n}")
    await app.owner.send("/broadcast")
    await press(app, "Next")
    await press(app, "Thank you")
    await press(app, "Bonus points")
    await app.owner.send("150")
    await press(app, "7 days")
    await press(app, "Send")
    progress = last(app)
    assert "sent 0 of 7" in progress.text

    first = await app.sender.send_due()  # one claim goes out
    assert first == app.sender.batch == 4
    await app.owner.click(find_button(progress, "Stop"), progress)
    assert "3 messages will not be sent" in last(app).text
    assert await app.deliver() == 0  # nothing left to send
    await app.dp["background"].wait()
    assert "delivered 4, failed 0, not sent 3" in last(app).text
    states = sorted(m.state for m in await rows(app, OutboxMessage) if m.source)
    assert states == ["cancelled"] * 3 + ["sent"] * 4
    [campaign] = await rows(app, Campaign)
    assert campaign.state == "cancelled"
    # the offers of those never told end with the stop; those told keep theirs
    told = {m.customer_id for m in await rows(app, OutboxMessage) if m.state == "sent"}
    offers = await rows(app, Offer)
    assert len(offers) == 7
    live = {o.customer_id for o in offers if o.valid_until > app.clock.now()}
    assert live == told and len(told) == 4


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_frequency_cap_across_a_scheduled_job_and_a_broadcast(
    app: App, settings: Settings
) -> None:
    """Cap 1 a week: Ann already got a birthday greeting queued by a job
    (contact.queue_for); the broadcast leaves her out and reaches Bob."""
    app = app.variant(settings.model_copy(update={
        "contact": settings.contact.model_copy(update={"max_marketing_per_week": 1}),
        "campaigns": settings.campaigns.model_copy(update={"holdout_percent": 0}),
    }))  # fmt: skip
    ann = await member(app, 1, "Ann")
    bob = await member(app, 2, "Bob")
    async with app.biz.db.write() as session:
        customer = await session.get(Customer, ann.id)
        assert customer is not None
        verdict = await queue_for(session, app.biz, customer, "broadcast.tpl_thanks",
                                  kind="birthday", source="job:birthday", now=app.clock.now(),
                                  name="Ann", balance=0)  # fmt: skip
    assert verdict is ContactVerdict.OK
    await app.owner.send("/broadcast")
    await press(app, "Next")
    await press(app, "miss you")
    await press(app, "No offer")
    assert "weekly message limit reached 1" in last(app).text
    await press(app, "Send")
    members = await rows(app, CampaignMember)
    assert [m.customer_id for m in members] == [bob.id]
    sources = [(m.customer_id, m.source) for m in await rows(app, OutboxMessage) if m.source]
    assert sorted(sources) == [(ann.id, "job:birthday"), (bob.id, "campaign:1")]


async def test_quiet_hours_delay_the_send_and_the_confirmation_says_so(app: App) -> None:
    """22:30 in Moscow (quiet 21:00-09:00): queued now, due at 09:00 local."""
    await member(app, 1, "Ann")
    app.clock.current = app.clock.current.replace(hour=19, minute=30)  # UTC
    await app.owner.send("/broadcast")
    await press(app, "Next")
    await press(app, "miss you")
    await press(app, "No offer")
    assert "Quiet hours now" in last(app).text
    await press(app, "Send")
    [message] = [m for m in await rows(app, OutboxMessage) if m.source]
    assert message.not_before is not None and message.not_before.hour == 6  # 09:00 MSK
    assert await app.deliver() == 0


@pytest.mark.parametrize("who", ["staff", "customer"])
async def test_owner_commands_refused_to_staff_and_customers(app: App, who: str) -> None:
    await member(app, 1, "Ann")
    user = app.user(6001, "en")
    if who == "staff":
        await hire(app, user)
    else:
        await join(app, user, name="Eve")
    before = await app.counts()
    for command in ("/broadcast", "/campaigns"):
        await user.send(command)
        assert "not available" in app.fake.last(user.user_id).text
    for data in (BroadcastStep(action="send").pack(), BroadcastStop(campaign_id=1).pack()):
        await user.click(data)
        assert any("not available" in str(c.params.get("text")) for c in
                   app.fake.calls("answerCallbackQuery")[-1:])  # fmt: skip
    assert await app.counts() == before


async def test_hostile_buttons_and_values_write_nothing(app: App) -> None:
    await member(app, 1, "Ann")
    before = await app.counts()
    await app.owner.send("/broadcast")
    panel = last(app)
    for data in ("bw:opt:9999", "bw:dim:9999", "bw:flag:7", "bw:zzz:0", "bw:days:0",
                 "bw:opt:-1", "bw:dim:99999", "bws:0", "bws:99999999999999999999"):  # fmt: skip
        await app.owner.click(data, panel)
    await app.owner.click(BroadcastStop(campaign_id=42).pack(), panel)
    assert "No such broadcast" in str(app.fake.calls("answerCallbackQuery")[-1].params)
    await press(app, "Next")
    await press(app, "Write my own text")
    await app.owner.send("x" * 3001)
    assert "too long" in last(app).text
    await app.owner.send("{{ name.__class__.__mro__ }}")  # the sandbox refuses it
    await press(app, "No offer")
    assert "is unsafe" in last(app).text and "fails for 1 of 1" in last(app).text
    await press(app, "Change the message")
    await press(app, "Write my own text")
    await app.owner.send("Hi")
    await press(app, "Discount")
    for bad in ("0", "-5", "100", "101", "1e2", "５０", "99999999", "50%"):
        await app.owner.send(bad)
        assert "from 1 to 99" in last(app).text  # 100 % would make a purchase free
    await app.owner.send("/cancel")
    assert await app.counts() == before


async def test_wizard_opens_with_a_preset_filter_from_a_segment_button(app: App) -> None:
    """/segments' buttons open the wizard with that group chosen (``start_broadcast(...,
    {dimension: value})``); a forged preset is refused and starts nothing."""
    ann = await member(app, 1, "Ann")
    await member(app, 2, "Bob")
    async with app.biz.db.write() as session:
        for customer_id, segment in ((ann.id, "at_risk"), (ann.id + 1, "champions")):
            session.add(CustomerScore(
                customer_id=customer_id, computed_at=app.clock.now(), purchases=1,
                total_spend=Decimal(1), average_check=Decimal(1), recency=1, frequency=1,
                monetary=1, segment=segment, lifecycle="repeat", lapsed=False, value="low",
                strategy="develop", service="standard", clv_method="mbg_nbd_prior",
            ))  # fmt: skip

    origin = app.fake.last(OWNER_ID) if app.fake.sent(OWNER_ID) else None
    await app.owner.click(SegmentAudience(dimension="segment", value="at_risk").pack(), origin)
    panel = last(app).text
    assert "RFM segment: At risk" in panel and "Customers now: <b>1</b>" in panel
    await press(app, "Next")  # the wizard goes on from there
    assert "choose a template" in last(app).text

    before = await app.counts()
    await app.owner.click(SegmentAudience(dimension="drop", value="x").pack(), origin)
    assert "cannot be used" in str(app.fake.calls("answerCallbackQuery")[-1].params)
    assert await app.counts() == before


async def test_a_redemption_prompt_goes_before_a_queued_broadcast(
    app: App, settings: Settings
) -> None:
    """Transactional before bulk (``OutboxPriority``): a cashier's redemption prompt queued
    after a broadcast leaves in the sender's very next batch, not behind it."""
    app = app.variant(settings.model_copy(update={
        "outbox": settings.outbox.model_copy(update=FOUR_A_SECOND),
    }))  # fmt: skip
    customers = [await member(app, n, f"C{n}") for n in range(1, 8)]
    async with app.biz.db.write() as session:
        await session.execute(
            update(Customer).where(Customer.id == customers[0].id).values(balance=50)
        )
    cashier = app.user(6001, "en")
    await hire(app, cashier)
    await app.deliver()  # the hiring notices
    await app.owner.send("/broadcast")
    await press(app, "Next")
    await press(app, "miss you")
    await press(app, "No offer")
    await press(app, "Send")
    await cashier.send(f"/redeem {customers[0].card_code} 10")
    sent = await app.sender.send_due()  # one claim, one message per chat
    assert 0 < sent <= app.sender.batch == 4
    first_batch = [c for c in app.fake.sent() if c.method == "sendMessage"][-sent:]
    assert any(c.chat_id == 5001 and "Confirm" in str(c.params) for c in first_batch), [
        (c.chat_id, (c.text or "")[:30]) for c in first_batch
    ]


async def test_progress_message_is_edited_as_delivery_goes(app: App, settings: Settings) -> None:
    """One batch out: the progress message (still with its stop button) says so; all out:
    it is edited a last time without the button and the final report follows."""
    app = app.variant(settings.model_copy(update={
        "outbox": settings.outbox.model_copy(update=FOUR_A_SECOND),
        "campaigns": settings.campaigns.model_copy(update={"holdout_percent": 0}),
    }))  # fmt: skip
    for n in range(1, 7):
        await member(app, n, f"C{n}")
    await app.owner.send("/broadcast")
    await press(app, "Next")
    await press(app, "miss you")
    await press(app, "No offer")
    await press(app, "Send")
    progress = last(app)
    message_id = progress.result["message_id"]

    def edits() -> list[Call]:
        return [c for c in app.fake.calls("editMessageText")
                if c.params.get("message_id") == message_id]  # fmt: skip

    await app.sender.send_due()  # 4 of 6
    for _ in range(200):  # the watcher looks every progress_seconds (0.01 s here)
        if edits() and "sent 4 of 6" in (edits()[-1].text or ""):
            break
        await asyncio.sleep(0.01)
    assert "sent 4 of 6" in (edits()[-1].text or "")
    assert "Stop sending" in str(edits()[-1].params.get("reply_markup"))
    await app.deliver()
    await app.dp["background"].wait()
    assert "sent 6 of 6" in (edits()[-1].text or "")
    assert edits()[-1].params.get("reply_markup") is None
    assert "finished: delivered 6, failed 0, not sent 0" in last(app).text


async def test_the_wizard_in_russian(app: App) -> None:
    """The owner's language: every step's text and button in Russian."""
    await member(app, 1, "Аня")
    owner = app.user(OWNER_ID, "ru", "Владелец")
    await owner.send("/broadcast")
    assert "Клиентов сейчас: <b>1</b>" in last(app).text
    for label in ("Далее", "Мы скучаем", "Без предложения"):
        call = last(app)
        await owner.click(find_button(call, label), call)
    confirm = last(app).text
    assert confirm.startswith("<b>Готово к отправке</b>") and "Аудитория: 1." in confirm
    assert app.fake.texts(OWNER_ID)[-2].startswith("Аня, we miss you!")  # her language: en
