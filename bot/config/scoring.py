"""``[scoring]``: the nightly reclassification's methods, thresholds and rating scale."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from bot.config.base import Section


class LifecycleSettings(Section):
    """Thresholds of the evolution ladder (seed 002); defaults from scoring.lifecycle."""

    # Purchases counted as purchase days; "repeat" is fixed at 2 (scoring.repeat).
    client_from_purchases: int = Field(default=4, ge=3)
    reliable_friend_from_purchases: int = Field(default=8, ge=2)
    reliable_friend_min_tenure_days: float = Field(default=180, ge=0)
    partner_from_purchases: int = Field(default=15, ge=2)
    partner_min_tenure_days: float = Field(default=365, ge=0)
    lapse_factor: float = Field(default=3.0, gt=0)
    min_lapse_days: float = Field(default=90, gt=0)


class ScoringSettings(Section):
    clv_margin: float = Field(default=0.3, gt=0, le=1)
    clv_discount_rate: float = Field(default=0.01, ge=0, lt=1)
    clv_horizon_months: int = Field(default=12, ge=1, le=120)
    min_repeat_buyers: int = Field(default=10, ge=2)
    rating_scale: Literal["none", "b2b", "custom"] = "none"
    custom_rating_scale: dict[str, Any] | None = None
    active_window_days: int = Field(default=365, ge=1)
    nightly_at: str = Field(default="03:30", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    stale_run_minutes: int = Field(default=60, ge=1)
    strategy: dict[str, str] | None = None  # quadrant -> seed 001 strategy (scoring.value)
    # "profitable in future": CLV at or above this; unset: one average purchase's margin
    future_profit_min: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    lifecycle: LifecycleSettings = LifecycleSettings()

    @model_validator(mode="after")
    def _strategy_table(self) -> ScoringSettings:
        if self.strategy is not None:
            from scoring import strategy_table

            strategy_table(self.strategy, where="scoring.strategy")  # ValueError names the key
        return self

    @model_validator(mode="after")
    def _custom_preset(self) -> ScoringSettings:
        if self.rating_scale == "custom" and not self.custom_rating_scale:
            raise ValueError("rating_scale = 'custom' needs a [scoring.custom_rating_scale] table")
        if self.custom_rating_scale is not None:
            from scoring import RATING_SCALE_INPUTS, RatingScaleConfigError, preset_from_dict

            try:
                preset = preset_from_dict(self.custom_rating_scale)
            except RatingScaleConfigError as err:
                raise ValueError(f"custom_rating_scale: {err}") from None
            unknown = sorted({c.key for c in preset.criteria} - RATING_SCALE_INPUTS)
            if unknown:
                raise ValueError(
                    f"custom_rating_scale: unknown criteria {unknown}; "
                    f"known: {sorted(RATING_SCALE_INPUTS)}"
                )
        return self
