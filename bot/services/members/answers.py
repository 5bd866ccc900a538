"""A customer's answers checked as sign-up checks them (sign-up, `loyalty-bot import`):
the birthday and the business's profile fields."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from bot.config import ProfileField, Settings
from bot.numbers import is_ascii_number
from bot.services.errors import ServiceError

_DATE_FORMATS = (
    re.compile(r"^(?P<d>\d{1,2})[./-](?P<m>\d{1,2})[./-](?P<y>\d{4})$"),
    re.compile(r"^(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})$"),
)


def parse_birthday(text: str, today: date, settings: Settings) -> date:
    """``31.12.1990``, ``31/12/1990`` or ``1990-12-31``; a real, past, plausible date."""
    cleaned = text.strip()
    for pattern in _DATE_FORMATS:
        match = pattern.match(cleaned)
        if match:
            break
    else:
        raise ServiceError("bad_birthday", text=cleaned[:40])
    try:
        born = date(int(match["y"]), int(match["m"]), int(match["d"]))
    except ValueError:
        raise ServiceError("birthday_impossible", text=cleaned[:40]) from None
    if born > today:
        raise ServiceError("birthday_future", text=cleaned[:40])
    age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    privacy = settings.privacy
    if age > privacy.max_age_years or age < privacy.min_age_years:
        raise ServiceError(
            "birthday_implausible",
            text=cleaned[:40],
            youngest=privacy.min_age_years,
            oldest=privacy.max_age_years,
        )
    return born


def parse_profile_value(field: ProfileField, text: str, today: date) -> Any:
    """A profile answer checked against its declared kind and limits."""
    value = " ".join(text.split())
    params = {"field": field.code, "text": value[:40]}
    if field.kind == "choice":
        for choice in field.choices:
            if choice.casefold() == value.casefold():
                return choice
        raise ServiceError("profile_bad_choice", choices=list(field.choices), **params)
    if field.kind in ("int", "year"):
        digits = value.replace(" ", "").replace("\xa0", "")
        if not is_ascii_number(digits) or len(digits) > 9:
            raise ServiceError("profile_not_number", **params)
        number = int(digits)
        low = field.min if field.min is not None else (1900 if field.kind == "year" else 0)
        high = (
            field.max
            if field.max is not None
            else (today.year + 1 if field.kind == "year" else None)
        )
        if number < low or (high is not None and number > high):
            raise ServiceError("profile_out_of_range", low=low, high=high, **params)
        return number
    if not value or len(value) > field.max_length or not value.isprintable():
        raise ServiceError("profile_bad_text", maximum=field.max_length, **params)
    return value
