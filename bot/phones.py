"""Phone numbers in E.164 via phonenumbers; a bare national number uses the business's region."""

from __future__ import annotations

import phonenumbers

DEFAULT_REGION = "RU"


def normalise_phone(text: str, region: str = DEFAULT_REGION) -> str | None:
    """E.164 string, or None when the text is not a valid phone number."""
    candidate = text.strip()
    if (
        candidate
        and candidate[0].isdigit()
        and len(candidate) > 10
        and not candidate.startswith("8")
    ):
        candidate = "+" + candidate  # Telegram sends contacts without the plus sign
    try:
        parsed = phonenumbers.parse(candidate, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
