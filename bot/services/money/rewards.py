"""The rewards catalogue («мойка бесплатно — 300 баллов»): named rewards paid with points.

The catalogue is config (``[[loyalty.rewards]]``: code, names, points). A customer sees it
in /offers with what their spendable points afford; a cashier asks for one with
``/reward <customer> <code>`` and it is paid exactly like a redemption
(``bot.services.counter.redemptions``): nothing is written until the customer confirms, and
the spendable balance is checked again under the lock at confirmation.
"""

from __future__ import annotations

from pydantic import BaseModel

from bot.config import Settings
from bot.config.programme import Reward
from bot.services.errors import ServiceError

REWARD_REASON = "reward:"  # the REDEEM entry's reason: which reward the points paid for


def reward_named(settings: Settings, code: str) -> Reward:
    """The catalogue's reward with ``code`` (case-insensitive); refused when there is none."""
    wanted = code.casefold()
    for reward in settings.loyalty.rewards:
        if reward.code == wanted:
            return reward
    raise ServiceError(
        "unknown_reward",
        reward=code[:32],
        codes=[r.code for r in settings.loyalty.rewards],
    )


class RewardView(BaseModel):
    code: str
    name: str
    points: int
    affordable: bool
    missing: int  # points still to collect (0 when affordable)


def catalogue(settings: Settings, locale: str, spendable: int) -> list[RewardView]:
    """Every reward in the customer's words, cheapest first, with what ``spendable`` affords."""
    return [
        RewardView(
            code=r.code,
            name=r.name(locale),
            points=r.points,
            affordable=spendable >= r.points,
            missing=max(r.points - spendable, 0),
        )
        for r in sorted(settings.loyalty.rewards, key=lambda r: (r.points, r.code))
    ]
