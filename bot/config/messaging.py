"""Configuration of what the bot says and to whom: the outbox and its message kinds, contact
discipline, owners' own texts, campaigns."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator

from bot.config.base import Section
from scoring.scales import SURVEY_HIGHEST, SURVEY_LOWEST


class TextsSettings(Section):
    """Owners' own wording: a folder with ``ru/`` and ``en/`` files named like the shipped
    ``templates/<locale>/*.html``, each defining only the blocks it changes."""

    override_dir: Path | None = None


class CampaignSettings(Section):
    """Measuring what broadcasts and scheduled jobs bring (bot.services.campaigns.enrolment)."""

    holdout_percent: int = Field(default=10, ge=0, le=50)  # kept out of each send, compared
    report_days: int = Field(default=14, ge=1, le=365)  # purchases counted after a send
    # How often a broadcast's progress message is edited while it is delivered.
    progress_seconds: float = Field(default=5.0, gt=0, le=300)
    # How long a broadcast's offer may last: the choices the /broadcast wizard offers.
    offer_days: tuple[int, ...] = Field(default=(7, 14, 30), min_length=1, max_length=6)

    @field_validator("offer_days")
    @classmethod
    def _offer_days(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(not 1 <= d <= 365 for d in value):
            raise ValueError("offer_days must be 1-365 days each")
        return value


class MessageKind(Section):
    """How one kind of outbox message is treated (``[outbox.kinds.<kind>]``).

    ``priority``: transactional messages all go before any bulk one. ``marketing``: subject
    to the customer's opt-in, the frequency cap and (by default) quiet hours. ``ttl_minutes``:
    the message's deadline is its queued (or not-before) time plus this; undelivered by
    then it is expired, not retried. ``quiet_hours``: whether it waits for the morning
    (unset: marketing kinds do, others do not).
    """

    priority: Literal["transactional", "bulk"] = "bulk"
    marketing: bool = False
    ttl_minutes: int = Field(default=1440, ge=1, le=60 * 24 * 90)
    quiet_hours: bool | None = None

    @property
    def waits_for_morning(self) -> bool:
        return self.marketing if self.quiet_hours is None else self.quiet_hours


_DAY = 24 * 60
# Every kind the product queues; a config may change any of them or add its own.
DEFAULT_MESSAGE_KINDS: dict[str, MessageKind] = {
    # purchase and redemption notices, tiers, referrals, staff joined...: a prompt reply
    "notice": MessageKind(priority="transactional", ttl_minutes=3 * _DAY),
    # the redemption request's confirm buttons; queued with the request's own expiry
    "redemption_prompt": MessageKind(priority="transactional", ttl_minutes=5),
    "purchase": MessageKind(priority="transactional", ttl_minutes=_DAY),
    # queued with the expiry date itself as the deadline; waits for the morning
    "expiry_warning": MessageKind(ttl_minutes=7 * _DAY, quiet_hours=True),
    # what keeps the customer's tier, before the grace period ends; waits for the morning
    "tier_keep": MessageKind(ttl_minutes=3 * _DAY, quiet_hours=True),
    # a question about a visit the customer just made: not advertising, so no opt-in
    # or cap, but it waits for the morning like marketing
    "survey": MessageKind(ttl_minutes=2 * _DAY, quiet_hours=True),
    "birthday": MessageKind(marketing=True, ttl_minutes=_DAY),
    "holiday": MessageKind(marketing=True, ttl_minutes=_DAY),
    "reminder": MessageKind(marketing=True, ttl_minutes=3 * _DAY),
    "tradein": MessageKind(marketing=True, ttl_minutes=7 * _DAY),
    "winback": MessageKind(marketing=True, ttl_minutes=3 * _DAY),
    "broadcast": MessageKind(marketing=True, ttl_minutes=3 * _DAY),
}


class OutboxSettings(Section):
    concurrency: int = Field(default=4, ge=1, le=100)  # messages in flight at once
    poll_seconds: float = Field(default=1.0, gt=0, le=60)
    rate_per_second: float = Field(default=30.0, gt=0, le=1000)
    per_chat_per_second: float = Field(default=1.0, gt=0, le=1000)
    backoff_cap_seconds: float = Field(default=300.0, ge=1, le=3600)
    claim_lease_seconds: float = Field(default=30.0, ge=5, le=3600)
    kinds: dict[str, MessageKind] = DEFAULT_MESSAGE_KINDS

    @field_validator("kinds", mode="before")
    @classmethod
    def _merge_kinds(cls, value: Any) -> Any:
        """A config lists only the kinds it changes or adds; the rest keep their defaults
        (a changed kind starts from its default, key by key)."""
        if not isinstance(value, dict):
            return value
        merged: dict[str, Any] = dict(DEFAULT_MESSAGE_KINDS)
        for name, rule in value.items():
            if not isinstance(name, str) or not name.replace("_", "").isalnum():
                raise ValueError(f"message kind {name!r} must be one word (letters, digits, _)")
            if len(name) > 32:
                raise ValueError(f"message kind {name!r} is longer than 32 characters")
            base = DEFAULT_MESSAGE_KINDS.get(name)
            if isinstance(rule, dict) and base is not None:
                rule = {**base.model_dump(), **rule}
            merged[name] = rule
        return merged

    def marketing_kinds(self) -> tuple[str, ...]:
        return tuple(sorted(name for name, rule in self.kinds.items() if rule.marketing))


_CLOCK = r"([01]\d|2[0-3]):[0-5]\d"


class ContactSettings(Section):
    """Contact discipline for marketing (bot/services/outbox/contact.py)."""

    # Local time of the business; start-end, may wrap midnight; "" for none.
    quiet_hours: str = Field(default="21:00-09:00", pattern=rf"^({_CLOCK}-{_CLOCK})?$")
    max_marketing_per_week: int = Field(default=2, ge=0, le=100)


class ConversationSettings(Section):
    """A member's own words to the business (bot.services.people.conversations): free text
    with no question open is passed to the owners, who answer from the bot."""

    enabled: bool = True
    to_staff: bool = False  # also to every active staff member (they may answer too)
    max_per_hour: int = Field(default=5, ge=1, le=100)  # a customer's messages passed on
    max_length: int = Field(default=2000, ge=10, le=3500)  # of a message and of an answer


class SurveySettings(Section):
    """The post-visit survey (seeds 003, 004): "how was it?" a while after each purchase."""

    enabled: bool = True
    delay_minutes: int = Field(default=120, ge=0, le=7 * 24 * 60)  # after the purchase
    # at or below: owners alerted
    low_score_threshold: int = Field(default=3, ge=SURVEY_LOWEST, le=SURVEY_HIGHEST)
    ask_comment: bool = True  # after the score, invite an optional comment
    max_comment_length: int = Field(default=1000, ge=10, le=4000)
    needs_opt_in: bool = True  # only customers who turned offers and news on in /settings
    answer_days: int = Field(default=7, ge=1, le=90)  # a score later than this is refused
    # After a score, "would you recommend us?" 0-10 (NPS), at most once per this many
    # months per customer (0: never asked).
    nps_every_months: int = Field(default=6, ge=0, le=60)
