"""/mydata and /forget (SPEC.md, Privacy; Russia's 152-FZ and GDPR).

Export: everything stored about the customer, as one JSON document, without the
Telegram ids of the staff who served them (``author_tg_id``) or their language.

Erasure: personal data is removed everywhere it is stored; the ledger's points and the
purchases' amounts stay, tied to an anonymous row, for the books:
- the customer row: Telegram id, phone, name (whoever entered it: the customer, or staff
  at the counter), birthday, profile, consent, referral link and language are cleared, the
  card code is replaced (an old QR finds nobody);
- staff notes about the customer are deleted; their survey comments are cleared (the
  scores stay, anonymous, for CSAT);
- outbox rows about them lose their text and chat id (pending ones are cancelled);
  messages to staff name customers by card code only, and that code is replaced;
- free-text reasons on their ledger entries (an owner's /adjust reason) are cleared, and on
  adjustments that waited for a second owner (``approvals``);
- odometer readings (``mileage_reports``: the sign-up answer and staff's ``km:``) are
  deleted; a visit's stored result never holds the reading (``personal()``);
- a broadcast they were enrolled in loses the profile answers its audience filtered on
  (a plate or a VIN identifies a person), keeping which field it filtered;
- the audit log keeps its rows, but those where the customer was the actor lose their
  Telegram id;
- stored results of processed updates hold no personal data at all (names and phones are
  never stored: bot.services.idempotency), so they need no scan.
Every statement finds its rows through an index on the customer (or, for the audit rows
the customer wrote, some before they had an account, on the actor's Telegram id), so one
/forget costs time in proportion to that customer's rows, not to the size of any table.
A salted hash of the Telegram id is kept in ``forgotten_identities`` for one purpose:
someone who joins again gets no second welcome bonus and counts as nobody's referral
(``signup.was_forgotten``).
The opening balance of a customer brought by ``loyalty-bot import`` keeps its ledger
key, a salted hash of the phone (``customer_import.opening_key``), and the phone's salted
hash joins ``forgotten_identities`` too (a zero opening balance has no ledger entry), for
one purpose: importing the old file again does not bring the erased person back.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Executable, case, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import (
    Approval,
    AuditEntry,
    Campaign,
    CampaignMember,
    CarInterest,
    ChurnAnswer,
    Conversation,
    Customer,
    CustomerScore,
    ForgottenIdentity,
    LedgerEntry,
    LedgerKind,
    MileageReport,
    Note,
    Offer,
    OutboxMessage,
    OutboxState,
    PersonalManager,
    Purchase,
    Redemption,
    StaffAlert,
    Survey,
    Visit,
)
from bot.services.campaigns.audience import PROFILE_PREFIX
from bot.services.context import Business
from bot.services.errors import ServiceError
from bot.services.idempotency import Outcome, run_once
from bot.services.members.identity import id_hash, identity_hash
from bot.services.outbox.deferred_text import text_of
from bot.services.people.audit import add_audit
from bot.services.people.customers import unique_card_code
from bot.services.people.roles import Role

EXPORT_VERSION = 1

# Audit rows written while this person acted as a customer (or before they joined); their
# acts as staff or owner are other people's records and keep the id.
CUSTOMER_ROLES = (Role.CUSTOMER, Role.STRANGER)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if value is None or isinstance(value, (bool, int, float, str, list, dict)):
        return value
    return str(value)


# Columns about the staff who served the customer, not about the customer: not exported.
STAFF_COLUMNS = (
    "author_tg_id", "author_locale", "staff_tg_id", "actor_tg_id", "answered_by", "decided_by",
)  # fmt: skip


def _row(obj: Any, skip: tuple[str, ...] = STAFF_COLUMNS) -> dict[str, Any]:
    return {
        column.key: _plain(getattr(obj, column.key))
        for column in obj.__table__.columns
        if column.key not in skip
    }


async def _member(session: AsyncSession, tg_id: int) -> Customer:
    customer = await session.scalar(select(Customer).where(Customer.telegram_id == tg_id))
    if customer is None:
        raise ServiceError("not_registered")
    return customer


# Every table with rows about a customer, by the export's section name (the outbox is
# "messages", below: a queued template is exported as it would be sent).
SECTIONS: tuple[tuple[str, Any], ...] = (
    ("purchases", Purchase),
    ("visits", Visit),
    ("mileage", MileageReport),
    ("ledger", LedgerEntry),
    ("redemptions", Redemption),
    ("offers", Offer),
    ("campaigns", CampaignMember),
    ("scores", CustomerScore),
    ("notes", Note),
    ("surveys", Survey),
    ("conversations", Conversation),
    ("personal_manager", PersonalManager),
    ("car_interest", CarInterest),
    ("churn_reasons", ChurnAnswer),
    ("audit", AuditEntry),
    ("approvals", Approval),  # purchases and adjustments that waited for an owner
    ("alerts", StaffAlert),  # anomaly alerts about the staff who served them
)
MESSAGES = "messages"


def exported_tables() -> set[str]:
    return {model.__tablename__ for _, model in SECTIONS} | {OutboxMessage.__tablename__}


async def export(biz: Business, tg_id: int) -> dict[str, Any]:
    """Everything stored about the customer, in the database's own terms."""
    async with biz.db.read() as session:
        customer = await _member(session, tg_id)
        cid = customer.id

        async def rows(model: Any) -> list[dict[str, Any]]:
            order = model.__table__.primary_key.columns
            query = select(model).where(model.customer_id == cid).order_by(*order)
            found = await session.scalars(query)
            return [_row(r) for r in found]

        messages = await session.scalars(
            select(OutboxMessage).where(OutboxMessage.customer_id == cid).order_by(OutboxMessage.id)
        )
        document: dict[str, Any] = {
            "export_version": EXPORT_VERSION,
            "business": biz.settings.business.name,
            "exported_at": biz.clock.now().isoformat(),
            "customer": _row(customer),
        }
        for section, model in SECTIONS:
            document[section] = await rows(model)
        document[MESSAGES] = [
            {k: v for k, v in _row(m).items() if k in ("id", "state", "created_at")}
            | {"text": text_of(biz.texts, m)}  # a queued template: as it would be sent
            for m in messages
        ]
        return document


class Forgotten(BaseModel):
    customer_id: int
    language: str


def erase_statements(customer_id: int, tg_id: int) -> list[Executable]:
    """The bulk part of an erasure, each statement on an index (see the module docstring)."""
    pending = OutboxMessage.state == OutboxState.PENDING
    return [
        delete(Note).where(Note.customer_id == customer_id),
        update(Survey).where(Survey.customer_id == customer_id).values(comment=None),
        update(OutboxMessage)
        .where(OutboxMessage.customer_id == customer_id)
        .values(
            text=None,
            context=None,
            chat_id=None,
            state=case((pending, OutboxState.CANCELLED.value), else_=OutboxMessage.state),
        ),
        update(LedgerEntry)
        .where(LedgerEntry.customer_id == customer_id, LedgerEntry.kind == LedgerKind.ADJUSTMENT)
        .values(reason=None),
        update(Approval).where(Approval.customer_id == customer_id).values(reason=None),
        delete(MileageReport).where(MileageReport.customer_id == customer_id),
        delete(PersonalManager).where(PersonalManager.customer_id == customer_id),
        delete(CarInterest).where(CarInterest.customer_id == customer_id),
        update(AuditEntry)
        .where(AuditEntry.actor_tg_id == tg_id, AuditEntry.actor_role.in_(CUSTOMER_ROLES))
        .values(actor_tg_id=None),
    ]


ERASED_ANSWER = "(erased)"  # what a broadcast's profile filter keeps after an erase


async def _erase_audience_answers(session: AsyncSession, customer_id: int) -> None:
    """Profile answers in the audience of broadcasts the customer was enrolled in (found
    through ``ix_campaign_members_customer``)."""
    enrolled = select(CampaignMember.campaign_id).where(CampaignMember.customer_id == customer_id)
    found = await session.scalars(
        select(Campaign).where(Campaign.id.in_(enrolled), Campaign.audience.is_not(None))
    )
    for campaign in found:
        audience = dict(campaign.audience or {})
        if any(key.startswith(PROFILE_PREFIX) for key in audience):
            campaign.audience = {
                key: ERASED_ANSWER if key.startswith(PROFILE_PREFIX) else value
                for key, value in audience.items()
            }


async def forget(biz: Business, key: str, tg_id: int) -> Outcome[Forgotten]:
    now = biz.clock.now()

    async def work(session: AsyncSession) -> Forgotten:
        customer = await _member(session, tg_id)
        cid, language = customer.id, customer.language
        identities = {id_hash(biz.settings, tg_id)}
        if customer.phone:  # an old import file brings nobody back, balance or not
            identities.add(identity_hash(biz.settings, customer.phone))
        for identity in sorted(identities):
            if await session.get(ForgottenIdentity, identity) is None:
                session.add(ForgottenIdentity(id_hash=identity, created_at=now))
        for statement in erase_statements(cid, tg_id):
            await session.execute(statement)
        await _erase_audience_answers(session, cid)
        customer.telegram_id = None
        customer.phone = None
        customer.name = None
        customer.name_key = None
        customer.birthday = None
        customer.profile = None
        customer.consent_at = None
        customer.consent_version = None
        customer.signup_step = None
        customer.referred_by = None
        customer.marketing_opt_in = False
        customer.marketing_opt_in_at = None
        customer.language = biz.settings.business.default_language
        customer.card_code = await unique_card_code(session)
        customer.erased_at = now
        add_audit(
            session,
            now=now,
            actor_tg_id=None,
            actor_role="customer",
            action="forget",
            customer_id=cid,
            update_key=key,
        )
        return Forgotten(customer_id=cid, language=language)

    return await run_once(biz.db, biz.clock, key, Forgotten, work)
