"""Phone numbers in E.164 via phonenumbers; a bare national number uses the business's region
(``business.phone_region``)."""

from __future__ import annotations

import phonenumbers


def normalise_phone(text: str, region: str) -> str | None:
    """E.164 string, or None when the text is not a valid phone number.

    Read first as the business's region reads it (a national number, "8 916 …" in Russia,
    "0151 …" in Germany), then, for bare digits, as an international number without its
    "+" (Telegram sends a shared contact's number that way).
    """
    candidate = text.strip()
    attempts = [candidate]
    if candidate[:1].isdigit():
        attempts.append("+" + candidate)
    for attempt in attempts:
        try:
            parsed = phonenumbers.parse(attempt, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(parsed):
            return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    return None
