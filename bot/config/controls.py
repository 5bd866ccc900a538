"""Controls on staff (bot.services.counter.approvals, bot.services.insight.anomalies):
daily caps per role beyond which a purchase waits for an owner, the /adjust size that
needs a second owner, opening hours, and what counts as an anomaly worth an alert."""

from __future__ import annotations

from decimal import Decimal

from pydantic import Field, field_validator, model_validator

from bot.config.base import Section

_CLOCK = r"([01]\d|2[0-3]):[0-5]\d"
CAPPED_ROLES = ("staff", "owner")  # roles.Role values a cap may name


class StaffSettings(Section):
    invite_ttl_hours: int = Field(default=24, ge=1, le=24 * 30)


class DailyCap(Section):
    """What one staff member of a role may credit in a local day without an owner."""

    purchases: int | None = Field(default=None, gt=0)  # purchases credited
    amount: Decimal | None = Field(default=None, gt=0, decimal_places=2)  # their total

    @model_validator(mode="after")
    def _something(self) -> DailyCap:
        if self.purchases is None and self.amount is None:
            raise ValueError("a cap needs purchases, amount or both")
        return self


class ControlsSettings(Section):
    caps: dict[str, DailyCap] = Field(default_factory=dict)  # per role (CAPPED_ROLES)
    # An /adjust of more points than this (either sign) needs a second owner's approval
    # when the business has two or more owners; None: never.
    adjust_second_owner_points: int | None = Field(default=None, gt=0)
    # Local time "start-end" (may wrap midnight); "" for none: redemptions outside alert.
    opening_hours: str = Field(default="", pattern=rf"^({_CLOCK}-{_CLOCK})?$")
    scan_every_minutes: int = Field(default=2, ge=1, le=60)  # the anomaly scan's interval
    burst_purchases: int = Field(default=3, ge=2, le=100)  # to one customer within
    burst_minutes: int = Field(default=10, ge=1, le=24 * 60)
    near_cap_share: Decimal = Field(default=Decimal("0.1"), gt=0, lt=1)  # "just under"
    refund_after_redeem_minutes: int = Field(default=60, ge=1, le=7 * 24 * 60)
    favourite_days: int = Field(default=30, ge=1, le=365)  # "far more often than the norm"
    favourite_min_purchases: int = Field(default=5, ge=2, le=1000)
    favourite_factor: Decimal = Field(default=Decimal("5"), gt=1, le=1000)

    @field_validator("caps")
    @classmethod
    def _known_roles(cls, value: dict[str, DailyCap]) -> dict[str, DailyCap]:
        unknown = sorted(set(value) - set(CAPPED_ROLES))
        if unknown:
            raise ValueError(f"caps name roles {', '.join(CAPPED_ROLES)}, not {unknown}")
        return value

    @field_validator("opening_hours")
    @classmethod
    def _not_empty_window(cls, value: str) -> str:
        if value and value.split("-")[0] == value.split("-")[1]:
            raise ValueError("opening hours start and end at the same time")
        return value
