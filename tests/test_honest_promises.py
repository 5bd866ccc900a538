"""No text promises what the product does not do (issue 10, "Honest promises").

Each promise the messages make is listed with the feature that keeps it; words of the
features not built yet appear in no message and no shipped tier perk. Birthday and
holiday greetings, reminders, trade-in and win-back (issue 11's jobs) are built: their
texts are PROMISES kept by the daily job that sends them.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from bot.config import SUPPORTED_LOCALES, TIER_PRESETS
from bot.jobs import DAILY_JOBS
from bot.services.people.roles import Role
from bot.texts import TEMPLATES_DIR
from handlers.menu import COMMANDS_BY_ROLE

# Patterns over word stems, so no inflected form slips through ("персональных предложений").
# Birthday and holiday greetings with gifts are built (bot/services/jobs/greetings.py):
# their words moved to PROMISES below.
NOT_YET = (r"personal offer", r"персональн\w* предлож")


def _job(job_id: str) -> Callable[[], bool]:
    return lambda: any(job.id == job_id for job in DAILY_JOBS)


# (locale, words in a message) -> what keeps the promise
PROMISES: dict[tuple[str, str], Callable[[], bool]] = {
    ("en", "we remind you before any expire"): _job("expiry"),
    ("ru", "перед сгоранием мы напомним"): _job("expiry"),
    ("en", "/mydata sends"): lambda: "mydata" in COMMANDS_BY_ROLE[Role.CUSTOMER],
    ("ru", "/mydata пришлёт"): lambda: "mydata" in COMMANDS_BY_ROLE[Role.CUSTOMER],
    ("en", "Happy birthday"): _job("birthday"),
    ("ru", "с днём рождения"): _job("birthday"),
    ("ru", "В подарок"): _job("birthday"),
    ("en", "Happy New Year"): _job("holidays"),
    ("ru", "с Новым годом"): _job("holidays"),
    ("en", "it is time for {{ service }}"): _job("reminders"),
    ("ru", "Самое время подумать о новом"): _job("tradein"),
    ("en", "we miss you"): _job("winback"),
}


def _all_text(locale: str) -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in (TEMPLATES_DIR / locale).glob("*.html"))


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_nothing_promises_a_feature_that_is_not_built(locale: str) -> None:
    perks = " ".join(
        perk
        for preset in TIER_PRESETS.values()
        for tier in preset
        for perk in tier.perks_in(locale)
    )
    text = (_all_text(locale) + perks).casefold()
    assert [w for w in NOT_YET if re.search(w, text)] == []


@pytest.mark.parametrize(("locale", "words"), list(PROMISES))
def test_each_promise_is_kept_by_a_feature(locale: str, words: str) -> None:
    assert words in _all_text(locale), "the promise is no longer made: drop it from PROMISES"
    assert PROMISES[(locale, words)](), "the feature that keeps it is gone"
