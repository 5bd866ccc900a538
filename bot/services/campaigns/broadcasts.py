"""An owner's broadcast: check it over the whole audience, then queue it at once.

The wizard (``handlers/broadcast.py``) builds a :class:`Draft`; :func:`prepare` renders
it for every customer of the audience (placeholder failures are found here, before
anything is sent) and says who the contact rules exclude; :func:`launch` makes the
campaign and, in one transaction, enrols the reachable audience (a random holdout gets
nothing), grants the optional offer and queues each message through the contact rules
(opt-in, frequency cap, quiet hours) with the campaign as the rows' ``source``. The outbox
sender delivers; ``campaigns.control`` shows its progress and stops what is still pending.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any, Literal

from markupsafe import Markup
from pydantic import BaseModel, Field
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import (
    Campaign,
    CampaignKind,
    CampaignState,
    OfferKind,
    OutboxMessage,
)
from bot.services.campaigns import enrolment as campaigns
from bot.services.campaigns.broadcast_text import (
    CheckResult,
    MessageSpec,
    Renderer,
    check_all_async,
)
from bot.services.campaigns.reach import KIND, reachable_now, valid_filters
from bot.services.context import Business
from bot.services.errors import ServiceError
from bot.services.idempotency import Outcome, run_once
from bot.services.money import offers
from bot.services.outbox import contact
from bot.services.people.audit import audit_act
from bot.services.people.roles import Actor

OCCURRENCE = "send"  # a broadcast is sent once: one occurrence per campaign
MESSAGE_TEMPLATE = "broadcast.message"  # body and offer line, as a customer gets them
MAX_POINTS = 100_000
MAX_TITLE = 64
DEFAULT_TITLE = "broadcast.default_title"  # an untitled broadcast's name: its local time
PREVIEW_CODE = "PREVIEW"  # the offer code shown in the owner's preview


class OfferSpec(BaseModel):
    """The optional offer: bonus points, or a percent off, valid ``days`` from the send."""

    kind: Literal["points", "percent"]
    value: int = Field(ge=1, le=MAX_POINTS)
    days: int = Field(ge=1, le=365)

    def offer_kind(self) -> OfferKind:
        return OfferKind.POINTS if self.kind == "points" else OfferKind.PERCENT


class Draft(BaseModel):
    """A broadcast as the owner confirmed it (the wizard's FSM data, JSON)."""

    filters: dict[str, object] = Field(default_factory=dict)
    message: MessageSpec
    offer: OfferSpec | None = None
    title: str | None = Field(default=None, max_length=MAX_TITLE)


@dataclass(frozen=True)
class LanguageShare:
    """``count`` reachable customers read ``reads`` and get the text in ``text``."""

    reads: str
    count: int
    text: str


@dataclass(frozen=True)
class Preparation:
    audience: int  # customers matching the filters
    reachable: int  # of them, those the contact rules allow now
    excluded: dict[str, int]  # contact verdict -> customers it excludes
    holdout_percent: int
    expected_holdout: int
    check: CheckResult
    sample: Any  # a real customer of the audience (a customers row), for the preview
    seconds: float  # the send's duration at Telegram's rate
    starts_at: datetime  # after the quiet hours, if they are on now
    languages: list[LanguageShare]
    other_samples: list[Any]  # one customer per other language the message is sent in

    @property
    def mixed(self) -> bool:
        """Worth telling the owner: several languages, or someone gets another's text."""
        return len(self.languages) > 1 or any(s.reads != s.text for s in self.languages)

    @property
    def expected_recipients(self) -> int:
        return self.reachable - self.expected_holdout


def reader_counts(biz: Business, customers: list[Any]) -> dict[str, int]:
    """How many of ``customers`` read each language (the bot's locales), most first."""
    counts: dict[str, int] = {}
    for customer in customers:
        locale = biz.texts.locale_for(customer.language)
        counts[locale] = counts.get(locale, 0) + 1
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


async def readers(biz: Business, filters: dict[str, object]) -> tuple[int, dict[str, int]]:
    """The customers the contact rules let a broadcast reach now, and their languages."""
    async with biz.db.read() as session:
        _, ok, _ = await reachable_now(session, biz, valid_filters(biz, filters), biz.clock.now())
    return len(ok), reader_counts(biz, ok)


def _other_samples(biz: Business, draft: Draft, ok: list[Any]) -> list[Any]:
    """After the first customer, one per other language the message reaches them in (each
    gets a preview of their own)."""
    shown: set[str] = set()
    samples = []
    for customer in ok:
        language = draft.message.text_language(biz.texts.locale_for(customer.language))
        if language not in shown:
            shown.add(language)
            samples.append(customer)
    return samples[1:]


def _validated(biz: Business, draft: Draft) -> Draft:
    filters = valid_filters(biz, draft.filters)
    offer = draft.offer
    if offer is not None and offer.kind == "percent" and offer.value > offers.MAX_PERCENT:
        raise ServiceError("broadcast_bad_offer", most=offers.MAX_PERCENT)
    return draft.model_copy(update={"filters": filters})


async def prepare(biz: Business, draft: Draft) -> Preparation:
    """Everything the confirmation shows, and the message rendered for the WHOLE audience
    (raises MessageError when the owner's text does not compile)."""
    draft = _validated(biz, draft)
    now = biz.clock.now()
    async with biz.db.read() as session:
        everyone, ok, excluded = await reachable_now(session, biz, draft.filters, now)
    check = await check_all_async(biz, draft.message, everyone)
    percent = biz.settings.campaigns.holdout_percent
    holdout = round(len(ok) * percent / 100)
    rule = biz.settings.outbox.kinds[KIND]
    starts = contact.after_quiet_hours(biz, now) if rule.waits_for_morning else now
    return Preparation(
        audience=len(everyone),
        reachable=len(ok),
        excluded=dict(excluded),
        holdout_percent=percent,
        expected_holdout=holdout,
        check=check,
        sample=(ok or everyone or [None])[0],
        seconds=(len(ok) - holdout) / biz.settings.outbox.rate_per_second,
        starts_at=starts,
        languages=[
            LanguageShare(locale, n, draft.message.text_language(locale))
            for locale, n in reader_counts(biz, ok).items()
        ],
        other_samples=_other_samples(biz, draft, ok),
    )


def preview_text(biz: Business, draft: Draft, customer: Any, locale: str) -> str:
    """The message exactly as ``customer`` would get it (a sample offer code)."""
    body = Renderer(biz, draft.message).render(customer)
    code = PREVIEW_CODE if draft.offer is not None else None
    return MessageWrapper(biz, draft, biz.clock.now()).text(locale, body, code)


def _offer_view(draft: Draft, code: str, now: datetime) -> dict[str, object] | None:
    if draft.offer is None:
        return None
    return {
        "kind": draft.offer.kind,
        "value": draft.offer.value,
        "code": code,
        "until": now + timedelta(days=draft.offer.days),
    }


class MessageWrapper:
    """``broadcast.message`` around each customer's body: rendered once per language with
    markers where the body and the offer code go, then filled in per customer (the body
    is escaped HTML already, an offer code is letters and digits), so 10,000 messages do
    not cost 10,000 template renders."""

    _BODY = "\u27e6body\u27e7"
    _CODE = "\u27e6code\u27e7"

    def __init__(self, biz: Business, draft: Draft, now: datetime) -> None:
        self.biz, self.draft, self.now = biz, draft, now
        self._wrappers: dict[str, str] = {}

    def text(self, language: str, body: str, code: str | None) -> str:
        locale = self.biz.texts.locale_for(language)
        wrapper = self._wrappers.get(locale)
        if wrapper is None:
            offer = _offer_view(self.draft, self._CODE, self.now)
            wrapper = self.biz.texts.render(
                locale, MESSAGE_TEMPLATE, body=Markup(self._BODY), offer=offer
            )
            self._wrappers[locale] = wrapper
        filled = wrapper.replace(self._BODY, str(body), 1)
        if self.draft.offer is None:
            return filled
        if not code:
            raise ValueError("an offer's message needs the offer's code")
        return filled.replace(self._CODE, code, 1)


class Launched(BaseModel):
    campaign_id: int
    queued: int
    held_out: int
    excluded: int


async def launch(biz: Business, actor: Actor, key: str, draft: Draft) -> Outcome[Launched]:
    """Make the campaign and queue every message, exactly once per ``key`` (the wizard's
    own id, so a double-tapped confirm button launches once). A message that fails to
    render refuses the whole send (``broadcast_render_failed``): nothing is written,
    nothing half-sent."""
    draft = _validated(biz, draft)
    work = partial(_launch, biz=biz, actor=actor, key=key, draft=draft, now=biz.clock.now())
    return await run_once(biz.db, biz.clock, key, Launched, work, event="broadcast")


async def _launch(
    session: AsyncSession, *, biz: Business, actor: Actor, key: str, draft: Draft, now: datetime
) -> Launched:
    """``launch``'s transaction: the campaign, its holdout, the offer granted, every
    message queued through the contact rules, the enrolments and the audit row."""
    everyone, ok, _ = await reachable_now(session, biz, draft.filters, now)
    if not ok:
        raise ServiceError("broadcast_nobody")
    campaign = await _new_campaign(session, biz, actor, draft, now)
    held = campaigns.holdout(campaign, [c.id for c in ok])
    recipients = [c for c in ok if not held[c.id]]
    source = campaigns.source_of(campaign.id)
    made = await _grant_offer(session, draft, recipients, source, now)
    texts = _texts(biz, draft, recipients, made, now)
    rows = contact.marketing_rows(biz, texts, kind=KIND, source=source, now=now)
    outbox_ids = await _insert_rows(session, rows)
    await campaigns.enrol_new(
        session, campaign, held, OCCURRENCE, now=now, outbox_ids=outbox_ids,
        offer_ids={cid: offer_id for cid, (offer_id, _) in made.items()},
    )  # fmt: skip
    audit_act(session, actor, "broadcast", key, now, campaign_id=campaign.id,
              queued=len(rows), audience=len(everyone))  # fmt: skip
    return Launched(
        campaign_id=campaign.id,
        queued=len(rows),
        held_out=len(ok) - len(recipients),
        excluded=len(everyone) - len(ok),
    )


async def _new_campaign(
    session: AsyncSession, biz: Business, actor: Actor, draft: Draft, now: datetime
) -> Campaign:
    """The broadcast's campaign row, active from now (an untitled one named by its time)."""
    campaign = Campaign(
        kind=CampaignKind.BROADCAST,
        name=(draft.title or biz.texts.plain(actor.locale, DEFAULT_TITLE, at=now))[:MAX_TITLE],
        holdout_percent=biz.settings.campaigns.holdout_percent,
        state=CampaignState.ACTIVE,
        created_by_tg_id=actor.tg_id,
        created_at=now,
        audience=draft.filters,
        message=draft.message.model_dump_json(),
        offer=draft.offer.model_dump() if draft.offer else None,
    )
    session.add(campaign)
    await session.flush()
    return campaign


async def _grant_offer(
    session: AsyncSession, draft: Draft, recipients: list[Any], source: str, now: datetime
) -> dict[int, tuple[int, str]]:
    """The draft's offer granted to every recipient: customer id -> (offer id, code)."""
    if draft.offer is None:
        return {}
    return await offers.grant_many(
        session,
        customer_ids=[c.id for c in recipients],
        kind=draft.offer.offer_kind(),
        value=Decimal(draft.offer.value),
        valid_from=now,
        valid_until=now + timedelta(days=draft.offer.days),
        source=source,
        now=now,
    )


def _texts(
    biz: Business,
    draft: Draft,
    recipients: list[Any],
    made: dict[int, tuple[int, str]],
    now: datetime,
) -> list[tuple[Any, str]]:
    """Each recipient's message, rendered; one that fails refuses the whole send."""
    renderer = Renderer(biz, draft.message)
    messages = MessageWrapper(biz, draft, now)
    texts = []
    for customer in recipients:
        try:
            body = renderer.render(customer)
        except Exception as err:
            raise ServiceError("broadcast_render_failed", card=customer.card_code) from err
        code = made[customer.id][1] if customer.id in made else None
        texts.append((customer, messages.text(customer.language, body, code)))
    return texts


async def _insert_rows(session: AsyncSession, rows: list[dict[str, Any]]) -> dict[int, int]:
    """The outbox rows inserted in one statement: customer id -> outbox id."""
    if not rows:
        return {}
    table = OutboxMessage.__table__
    queued = await session.execute(insert(table).returning(table.c.customer_id, table.c.id), rows)
    return dict(queued.all())
