"""SQLAlchemy 2 typed models. Times are stored in UTC; money as integer minor units.

Money goes through the `Money` type: Python sees `Decimal`, the database stores an
integer number of kopecks/cents, so SQLite and PostgreSQL sum it exactly alike.

Size: the whole schema as one declarative registry, a class per table with no logic, which
is what Alembic's autogenerate and the migration test compare against; split by area, the
foreign keys between the areas would only become string references across modules.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from enum import IntEnum, StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy import false as sa_false
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from bot.config import DEFAULT_LOCALE
from bot.money import from_minor, to_minor
from scoring.scales import NPS_HIGHEST, NPS_LOWEST, SURVEY_HIGHEST, SURVEY_LOWEST


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in Python on every backend (SQLite keeps naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Money(TypeDecorator[Decimal]):
    """Decimal with two places in Python, integer minor units in the database."""

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: Any) -> int | None:
        if value is None:
            return None
        return to_minor(value)

    def process_result_value(self, value: int | None, dialect: Any) -> Decimal | None:
        if value is None:
            return None
        return from_minor(value)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime(), Decimal: Money(), float: Float()}  # noqa: RUF012


class LedgerKind(StrEnum):
    EARN = "earn"
    REDEEM = "redeem"
    BONUS = "bonus"
    EXPIRE = "expire"
    REVERSAL = "reversal"
    ADJUSTMENT = "adjustment"
    IMPORT = "import"  # an opening balance brought from the business's earlier base


class RedemptionState(StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    DECLINED = "declined"
    EXPIRED = "expired"
    FAILED = "failed"


class OutboxState(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"  # Telegram refused it for good (400, 403)
    CANCELLED = "cancelled"  # /forget, or a stopped broadcast, before it went out
    EXPIRED = "expired"  # still undelivered at its deadline (e.g. a long outage)
    SKIPPED = "skipped"  # marketing whose customer opted out or blocked the bot before it went


# Never tried and never will be: these reached nobody (not counted against the weekly cap,
# reported as "not sent" by campaigns).
NEVER_SENT: tuple[OutboxState, ...] = (
    OutboxState.CANCELLED, OutboxState.EXPIRED, OutboxState.SKIPPED,
)  # fmt: skip


class OutboxPriority(IntEnum):
    """Lower goes first: every transactional message before any bulk one."""

    TRANSACTIONAL = 0
    BULK = 1


class Outlet(Base):
    __tablename__ = "outlets"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))


class Customer(Base):
    __tablename__ = "customers"
    __table_args__ = (
        CheckConstraint("balance >= 0", name="ck_customers_balance_nonneg"),
        Index("ix_customers_birthday", "birthday"),  # the birthday job's daily selection (0015)
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    telegram_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    phone: Mapped[str | None] = mapped_column(String(20), unique=True)
    name: Mapped[str | None] = mapped_column(String(64))
    name_key: Mapped[str | None] = mapped_column(String(64), index=True)  # casefolded, for /find
    language: Mapped[str] = mapped_column(String(8), default=DEFAULT_LOCALE)
    card_code: Mapped[str] = mapped_column(String(16), unique=True)
    consent_at: Mapped[datetime | None]
    consent_version: Mapped[str | None] = mapped_column(String(32))
    balance: Mapped[int] = mapped_column(Integer, default=0)
    payment_terms: Mapped[str] = mapped_column(  # rating-scale input (seed 002)
        String(16), default="on_time", server_default="on_time"
    )
    created_at: Mapped[datetime]
    # Customer journey (0003): sign-up progress, profile, tier, referral, privacy.
    signup_step: Mapped[str | None] = mapped_column(String(40))  # None: sign-up complete
    birthday: Mapped[date | None] = mapped_column(Date)
    profile: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    marketing_opt_in: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=sa_false()
    )
    marketing_opt_in_at: Mapped[datetime | None]  # when it was answered (0017); None: never
    tier: Mapped[str | None] = mapped_column(String(32))  # None: the ladder's first tier
    tier_since: Mapped[datetime | None]
    below_tier_since: Mapped[datetime | None]  # grace period start (demotion pending)
    referred_by: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", name="fk_customers_referred_by")
    )
    referral_rewarded_at: Mapped[datetime | None]
    erased_at: Mapped[datetime | None]
    # Delivery (0008): set when Telegram answered 403 (the bot is blocked), cleared when
    # the customer writes to the bot again; marketing skips them meanwhile.
    unreachable_at: Mapped[datetime | None]


class ForgottenIdentity(Base):
    """A salted hash of the Telegram id of someone who used /forget: no second welcome bonus."""

    __tablename__ = "forgotten_identities"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime]


class Staff(Base):
    __tablename__ = "staff"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    telegram_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    name: Mapped[str] = mapped_column(String(64))
    outlet_code: Mapped[str] = mapped_column(ForeignKey("outlets.code"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    invited_by: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime]
    removed_at: Mapped[datetime | None]


class Owner(Base):
    """An owner who claimed the bot with a one-time code (owners in config need no row).

    A row with no ``telegram_id`` is a code not claimed yet; only the code's SHA-256 is
    kept, so the database never holds a usable code.
    """

    __tablename__ = "owners"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    telegram_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    created_at: Mapped[datetime]
    claimed_at: Mapped[datetime | None]


class Invite(Base):
    __tablename__ = "invites"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[int] = mapped_column(BigInteger)
    outlet_code: Mapped[str] = mapped_column(ForeignKey("outlets.code"))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    used_by: Mapped[int | None] = mapped_column(BigInteger)
    # "staff", or "owner": an owner's one-time link that makes a co-owner (0018)
    role: Mapped[str] = mapped_column(String(16), default="staff", server_default="staff")


class ChatSettings(Base):
    """A staff member's or owner's own choices (language), kept apart from any customer
    card: owners listed in config have no row elsewhere (0018)."""

    __tablename__ = "chat_settings"

    telegram_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    language: Mapped[str | None] = mapped_column(String(8))
    updated_at: Mapped[datetime]


def unix_seconds(moment: datetime) -> int:
    """Whole seconds since 1970-01-01 UTC (an aware datetime, as every stored one is)."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime given to a UTC column")
    return int(moment.timestamp() // 1)


def _created_ts_default(context: Any) -> int:
    return unix_seconds(context.get_current_parameters()["created_at"])


class Purchase(Base):
    """A purchase. ``created_ts`` repeats ``created_at`` as integer Unix seconds.

    The scoring job groups ten million purchases per customer; SQLite keeps datetimes as
    text, and parsing them dominated that query. The integer copy is filled from
    ``created_at`` on every insert (column default), and the covering index
    ``ix_purchases_scoring`` lets the GROUP BY walk purchases in customer order without
    touching the table.
    """

    __tablename__ = "purchases"
    __table_args__ = (
        UniqueConstraint("outlet_code", "receipt_no", name="uq_purchases_receipt"),
        CheckConstraint("amount > 0", name="ck_purchases_amount_pos"),
        Index("ix_purchases_customer_created", "customer_id", "created_at"),
        Index("ix_purchases_scoring", "customer_id", "created_ts", "amount", "refunded_amount"),
        # service reminders (0015): the services of one tag in a time range, and a later one
        Index("ix_purchases_tag_created", "service_tag", "created_ts", "customer_id"),
        Index("ix_purchases_customer_tag", "customer_id", "service_tag", "created_ts"),
        # a staff member's purchases today, read by the purchase's first statement when
        # a daily cap applies (bot.services.counter.approvals, 0023)
        Index("ix_purchases_author_day", "author_tg_id", "created_ts", "amount"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    author_tg_id: Mapped[int] = mapped_column(BigInteger)
    outlet_code: Mapped[str] = mapped_column(ForeignKey("outlets.code"))
    amount: Mapped[Decimal]
    refunded_amount: Mapped[Decimal] = mapped_column(default=Decimal("0"))
    service_tag: Mapped[str | None] = mapped_column(String(32))
    receipt_no: Mapped[str | None] = mapped_column(String(32))
    points_earned: Mapped[int] = mapped_column(Integer, default=0)
    points_redeemed: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    created_ts: Mapped[int] = mapped_column(BigInteger, default=_created_ts_default)


class Visit(Base):
    __tablename__ = "visits"
    __table_args__ = (
        Index("ix_visits_customer_created", "customer_id", "created_at"),
        Index("ix_visits_tag_created", "service_tag", "created_ts", "customer_id"),  # 0015
        Index("ix_visits_customer_tag", "customer_id", "service_tag", "created_ts"),  # 0015
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    author_tg_id: Mapped[int] = mapped_column(BigInteger)
    outlet_code: Mapped[str] = mapped_column(ForeignKey("outlets.code"))
    service_tag: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime]
    # created_at as Unix seconds, like purchases.created_ts (0015: the reminders' selection)
    created_ts: Mapped[int] = mapped_column(BigInteger, default=_created_ts_default)


class MileageReport(Base):
    """A car's odometer reading as reported (staff at a visit: ``/visit ... km:N``).

    The sign-up's ``profile.mileage`` counts as a report at sign-up time. Readings never go
    down (a lower one is refused); the estimated monthly run is learned from them
    (bot.services.people.mileage).
    """

    __tablename__ = "mileage_reports"
    __table_args__ = (
        Index("ix_mileage_customer", "customer_id", "reported_at"),
        CheckConstraint("km >= 0", name="ck_mileage_km_nonneg"),
        CheckConstraint("monthly_km >= 0", name="ck_mileage_monthly_nonneg"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    km: Mapped[int] = mapped_column(Integer)
    reported_at: Mapped[datetime]
    # reported_at as Unix seconds, and the monthly run estimated with this reading: the
    # daily selection projects today's mileage in portable integer SQL from these two
    reported_ts: Mapped[int] = mapped_column(BigInteger)
    monthly_km: Mapped[int] = mapped_column(Integer)
    author_tg_id: Mapped[int | None] = mapped_column(BigInteger)
    visit_id: Mapped[int | None] = mapped_column(ForeignKey("visits.id"))


class Redemption(Base):
    """A redemption request waiting for the customer; the ledger is untouched until then."""

    __tablename__ = "redemptions"
    __table_args__ = (Index("ix_redemptions_customer", "customer_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    author_tg_id: Mapped[int] = mapped_column(BigInteger)
    author_locale: Mapped[str] = mapped_column(String(8))  # the answer goes back in it
    outlet_code: Mapped[str] = mapped_column(ForeignKey("outlets.code"))
    points: Mapped[int] = mapped_column(Integer)
    purchase_amount: Mapped[Decimal | None]
    purchase_id: Mapped[int | None] = mapped_column(ForeignKey("purchases.id"))
    state: Mapped[str] = mapped_column(String(16), default=RedemptionState.PENDING)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]
    # A reward of the catalogue (``loyalty.rewards``) paid with the points, or None.
    reward_code: Mapped[str | None] = mapped_column(String(32))


class LedgerEntry(Base):
    """Append-only: never updated or deleted; a mistake is corrected by a reversal entry."""

    __tablename__ = "ledger_entries"
    __table_args__ = (Index("ix_ledger_customer", "customer_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    kind: Mapped[str] = mapped_column(String(16))
    points: Mapped[int] = mapped_column(Integer)
    author_tg_id: Mapped[int | None] = mapped_column(BigInteger)
    purchase_id: Mapped[int | None] = mapped_column(ForeignKey("purchases.id"))
    redemption_id: Mapped[int | None] = mapped_column(ForeignKey("redemptions.id"))
    reason: Mapped[str | None] = mapped_column(String(200))
    idempotency_key: Mapped[str] = mapped_column(String(80), unique=True)
    created_at: Mapped[datetime]
    # Pending until then (a purchase's earn within the return window, and a refund's
    # reversal of it): counted in the balance, not spendable (money/pending.py).
    available_at: Mapped[datetime | None]


class OfferKind(StrEnum):
    """What an offer gives when used at the counter."""

    POINTS = "points"  # bonus points credited through the ledger
    PERCENT = "percent"  # percent off the purchase (or off its service tag)
    FIXED = "fixed"  # a fixed amount of money off


class Offer(Base):
    """A personal offer: made by a job or a campaign for one customer, used at most once.

    ``dedupe_key`` makes a job's offer exactly-once per customer and occurrence (e.g.
    ``birthday:2026:42``): a job rerun after a restart finds the key and makes nothing.
    ``value`` is points (POINTS), a percent (PERCENT) or money (FIXED), as a Decimal.
    """

    __tablename__ = "offers"
    __table_args__ = (
        Index("ix_offers_customer_live", "customer_id", "used_at", "valid_until"),
        Index("ix_offers_source", "source"),
        CheckConstraint("value > 0", name="ck_offers_value_pos"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[Decimal]  # two places, stored as hundredths like money
    service_tag: Mapped[str | None] = mapped_column(String(32))  # None: any purchase
    valid_from: Mapped[datetime]
    valid_until: Mapped[datetime]
    source: Mapped[str] = mapped_column(String(40))  # 'job:birthday', 'campaign:17'
    dedupe_key: Mapped[str | None] = mapped_column(String(80), unique=True)
    created_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    used_purchase_id: Mapped[int | None] = mapped_column(ForeignKey("purchases.id"))
    used_by_tg_id: Mapped[int | None] = mapped_column(BigInteger)
    discount: Mapped[Decimal | None]  # money taken off at use (PERCENT, FIXED)


class CampaignKind(StrEnum):
    JOB = "job"  # a scheduled job (birthday, reminders, win-back): one campaign per job
    BROADCAST = "broadcast"  # an owner's broadcast: one campaign per send


class CampaignState(StrEnum):
    ACTIVE = "active"  # a job's campaign, or a broadcast being sent or sent
    CANCELLED = "cancelled"  # a broadcast stopped by its owner (what was unsent, cancelled)


class Campaign(Base):
    """Who was reached by what, and who was held out, so the effect can be measured.

    ``name`` is the job's id for a job campaign (unique among jobs) and the owner's title
    for a broadcast. ``audience``, ``message`` and ``offer`` describe a broadcast as the
    owner confirmed it.
    """

    __tablename__ = "campaigns"
    __table_args__ = (Index("ix_campaigns_kind_name", "kind", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(64))
    holdout_percent: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16), default=CampaignState.ACTIVE)
    created_by_tg_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime]
    audience: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    message: Mapped[str | None] = mapped_column(Text)
    offer: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class CampaignMember(Base):
    """One customer's place in one occurrence of a campaign: reached or held out.

    Unique per (campaign, customer, occurrence), which makes a job's message exactly-once
    per customer and occurrence (a birthday: the year; a reminder: the due date) across
    restarts. ``held_out`` members get nothing; they are the comparison group.
    """

    __tablename__ = "campaign_members"
    __table_args__ = (
        UniqueConstraint(
            "campaign_id", "customer_id", "occurrence", name="uq_campaign_members_occurrence"
        ),
        Index("ix_campaign_members_customer", "customer_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    occurrence: Mapped[str] = mapped_column(String(32))
    held_out: Mapped[bool] = mapped_column(Boolean)
    enrolled_at: Mapped[datetime]
    outbox_id: Mapped[int | None] = mapped_column(Integer)
    offer_id: Mapped[int | None] = mapped_column(ForeignKey("offers.id"))


class Survey(Base):
    """The post-visit survey of one purchase (``purchase_id`` unique: one per purchase).

    ``staff_tg_id`` is who served the customer (the purchase's author), for the owner's
    alert and the per-staff CSAT; ``comment`` is personal data (erased by /forget).
    """

    __tablename__ = "surveys"
    __table_args__ = (
        CheckConstraint(
            f"score >= {SURVEY_LOWEST} AND score <= {SURVEY_HIGHEST}", name="ck_surveys_score_range"
        ),
        Index("ix_surveys_answered", "answered_at"),
        Index("ix_surveys_customer", "customer_id", "answered_at"),
        Index("ix_surveys_staff", "staff_tg_id", "answered_at"),
        CheckConstraint(
            f"nps_score >= {NPS_LOWEST} AND nps_score <= {NPS_HIGHEST}", name="ck_surveys_nps_range"
        ),
        Index("ix_surveys_nps", "customer_id", "nps_asked_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    purchase_id: Mapped[int] = mapped_column(ForeignKey("purchases.id"), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    staff_tg_id: Mapped[int] = mapped_column(BigInteger)
    outlet_code: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime]
    ask_at: Mapped[datetime]  # when the question goes out (the outbox row's not_before)
    score: Mapped[int | None] = mapped_column(Integer)
    answered_at: Mapped[datetime | None]
    comment: Mapped[str | None] = mapped_column(Text)
    commented_at: Mapped[datetime | None]
    # the complaint thread a low score opened (bot.services.people.complaints)
    conversation_id: Mapped[int | None] = mapped_column(
        ForeignKey("conversations.id", ondelete="SET NULL")
    )
    # "would you recommend us" 0-10, asked after this survey's score (at most once per
    # survey.nps_every_months per customer)
    nps_asked_at: Mapped[datetime | None]
    nps_score: Mapped[int | None] = mapped_column(Integer)
    nps_answered_at: Mapped[datetime | None]


class Note(Base):
    __tablename__ = "notes"
    __table_args__ = (Index("ix_notes_customer", "customer_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    author_tg_id: Mapped[int] = mapped_column(BigInteger)
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


class ProcessedUpdate(Base):
    """Claimed in the same transaction as a handler's effect: the exactly-once record."""

    __tablename__ = "processed_updates"
    __table_args__ = (Index("ix_processed_updates_created", "created_at"),)  # pruning

    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime]


class OutboxMessage(Base):
    """A message to send. ``kind`` names a row of the kind table (``[outbox.kinds]``),
    which gave the row its ``priority`` and default ``deadline`` when it was queued."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_claim", "state", "priority", "id"),  # the sender's claim query
        Index("ix_outbox_customer_created", "customer_id", "created_at"),  # frequency cap
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chat_id: Mapped[int | None] = mapped_column(BigInteger)  # None: erased by /forget
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    text: Mapped[str | None] = mapped_column(Text)
    reply_markup: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(16), default=OutboxState.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime]
    not_before: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    # Delivery (0008)
    kind: Mapped[str] = mapped_column(String(32), default="notice", server_default="notice")
    priority: Mapped[int] = mapped_column(
        SmallInteger, default=OutboxPriority.TRANSACTIONAL, server_default="0"
    )
    deadline: Mapped[datetime | None]  # undelivered after it: expired
    claimed_until: Mapped[datetime | None]  # a sender's lease on the row
    source: Mapped[str | None] = mapped_column(String(40))  # 'job:birthday', 'campaign:17'
    # Rendered at delivery (0016): text is None until then; see bot.services.outbox.deferred_text
    template: Mapped[str | None] = mapped_column(String(80))
    locale: Mapped[str | None] = mapped_column(String(16))
    context: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class AuditEntry(Base):
    """Who did what; ids only, never personal data (it survives /forget)."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_actor", "actor_tg_id"),  # /forget: the customer's acts
        Index("ix_audit_customer", "customer_id", "action"),  # a referral taken back yet?
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    actor_tg_id: Mapped[int | None] = mapped_column(BigInteger)
    actor_role: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(40))
    outcome: Mapped[str] = mapped_column(String(16))
    customer_id: Mapped[int | None] = mapped_column(Integer)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    update_key: Mapped[str | None] = mapped_column(String(80))
    created_at: Mapped[datetime]


class CustomerScore(Base):
    """One row per customer, rewritten by each reclassification run (scoring job)."""

    __tablename__ = "customer_scores"

    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), primary_key=True)
    computed_at: Mapped[datetime]
    purchases: Mapped[int] = mapped_column(Integer)
    total_spend: Mapped[Decimal]
    average_check: Mapped[Decimal]
    days_since_first: Mapped[int | None] = mapped_column(Integer)
    days_since_last: Mapped[int | None] = mapped_column(Integer)
    recency: Mapped[int] = mapped_column(Integer)
    frequency: Mapped[int] = mapped_column(Integer)
    monetary: Mapped[int] = mapped_column(Integer)
    rfm_code: Mapped[str | None] = mapped_column(String(3))
    segment: Mapped[str] = mapped_column(String(32), index=True)
    lifecycle: Mapped[str] = mapped_column(String(32))
    lapsed: Mapped[bool] = mapped_column(Boolean)
    value: Mapped[str] = mapped_column(String(16))
    strategy: Mapped[str] = mapped_column(String(32))
    service: Mapped[str] = mapped_column(String(32))
    clv: Mapped[Decimal | None]
    p_alive: Mapped[float | None]
    expected_purchases: Mapped[float | None]
    clv_method: Mapped[str] = mapped_column(String(32))
    rating_points: Mapped[int | None] = mapped_column(Integer)
    rating_category: Mapped[str | None] = mapped_column(String(32))


class ScoringRun(Base):
    """A reclassification run: when, how many customers, and what the fits rested on."""

    __tablename__ = "scoring_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    customers: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16))
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class Conversation(Base):
    """A customer's question to the business (their free text, later a low survey score):
    forwarded to the owners, answered from the bot. The words themselves live only in the
    messages sent (the outbox), never here (0018)."""

    __tablename__ = "conversations"
    __table_args__ = (Index("ix_conversations_customer", "customer_id", "opened_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(String(16))  # "message" | "survey"
    opened_at: Mapped[datetime]
    last_message_at: Mapped[datetime]
    first_answer_at: Mapped[datetime | None]
    answered_by: Mapped[int | None] = mapped_column(BigInteger)
    resolved_at: Mapped[datetime | None]


class ConversationMessage(Base):
    """One message of a conversation, without its text: when, and from whom (the
    per-customer rate limit counts the customer's own)."""

    __tablename__ = "conversation_messages"
    __table_args__ = (Index("ix_conversation_messages_at", "conversation_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    at: Mapped[datetime]
    from_customer: Mapped[bool] = mapped_column(Boolean)
    author_tg_id: Mapped[int | None] = mapped_column(BigInteger)


class PersonalManager(Base):
    """The staff member who looks after one customer of the top category (seed 002:
    «Обслуживание персональным менеджером»); their questions and alerts reach them first
    (0020). ``author_tg_id``: the owner who assigned them."""

    __tablename__ = "personal_managers"

    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    )
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"))
    assigned_at: Mapped[datetime]
    author_tg_id: Mapped[int] = mapped_column(BigInteger)


class CarInterest(Base):
    """A customer said they are thinking about a new car (seed 004: trade-in «когда клиент
    начинает интересоваться новой моделью»): one row per customer, so the owners are told
    once (0020). ``source``: "card" or "reminder", where the button was pressed."""

    __tablename__ = "car_interest"

    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    )
    noted_at: Mapped[datetime]
    source: Mapped[str] = mapped_column(String(16))


class ChurnAnswer(Base):
    """Why a customer stayed away: their answer to one win-back message (a reason
    button), at most one per message (``member_id``: the win-back's campaign member)."""

    __tablename__ = "churn_answers"
    __table_args__ = (
        UniqueConstraint("member_id", name="uq_churn_answers_member"),
        Index("ix_churn_answers_customer", "customer_id", "reason"),
        Index("ix_churn_answers_at", "answered_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("campaign_members.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    reason: Mapped[str] = mapped_column(String(16))  # bot.config CHURN_REASONS
    answered_at: Mapped[datetime]


class RuleVersion(Base):
    """One version of the programme's earn rules (a rules file, as published): in force
    from ``starts_at`` until the next version starts. Never updated: a change is a new row."""

    __tablename__ = "rule_versions"
    __table_args__ = (Index("ix_rule_versions_starts_at", "starts_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    starts_at: Mapped[datetime]
    body: Mapped[str] = mapped_column(Text)  # the TOML text (bot.services.rules.model)
    source: Mapped[str] = mapped_column(String(16))  # "file" (loyalty-bot rules) or "promo"
    author_tg_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime]


class ApprovalState(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class Approval(Base):
    """A purchase over its staff member's daily cap, or an ``/adjust`` over the threshold,
    waiting for an owner (bot.services.counter.approvals): nothing is credited until one
    approves; a rejected one never credits (0023)."""

    __tablename__ = "approvals"
    __table_args__ = (
        Index("ix_approvals_state", "state", "created_at"),
        Index("ix_approvals_customer", "customer_id"),  # /mydata, /forget
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # "purchase" | "adjust"
    state: Mapped[str] = mapped_column(String(16), default=ApprovalState.PENDING)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    author_tg_id: Mapped[int] = mapped_column(BigInteger)
    author_locale: Mapped[str] = mapped_column(String(8))  # the answer goes back in it
    outlet_code: Mapped[str] = mapped_column(ForeignKey("outlets.code"))
    amount: Mapped[Decimal | None]
    points: Mapped[int | None] = mapped_column(Integer)  # an adjustment's
    service_tag: Mapped[str | None] = mapped_column(String(32))
    receipt_no: Mapped[str | None] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(String(200))  # an adjustment's
    figures: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # the day's, when held
    created_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]
    decided_by: Mapped[int | None] = mapped_column(BigInteger)
    purchase_id: Mapped[int | None] = mapped_column(ForeignKey("purchases.id"))


class StaffAlert(Base):
    """An anomaly in a staff member's work told to the owners
    (bot.services.insight.anomalies); ``dedupe_key`` keeps one alert per occurrence (0023)."""

    __tablename__ = "staff_alerts"
    __table_args__ = (
        Index("ix_staff_alerts_staff", "staff_tg_id", "created_at"),
        Index("ix_staff_alerts_customer", "customer_id"),  # /mydata
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(24))
    staff_tg_id: Mapped[int] = mapped_column(BigInteger)
    customer_id: Mapped[int | None] = mapped_column(Integer)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    dedupe_key: Mapped[str] = mapped_column(String(120), unique=True)
    created_at: Mapped[datetime]


class AnomalyMark(Base):
    """How far the anomaly scan has read a table (bot.services.insight.anomaly_scan): the
    last id it checked, written with the alerts it raised (0023)."""

    __tablename__ = "anomaly_marks"

    name: Mapped[str] = mapped_column(String(16), primary_key=True)  # "purchases" | "audit"
    last_id: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime]
