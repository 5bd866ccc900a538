"""Phone numbers in E.164 via phonenumbers; a bare national number uses the business's region
(``business.phone_region``)."""

from __future__ import annotations

import phonenumbers


def normalise_phone(text: str, region: str, *, shared_contact: bool = False) -> str | None:
    """E.164 string, or None when the text is not a valid phone number.

    Read first as the business's region reads it (a national number, "8 916 …" in Russia,
    "0151 …" in Germany), then, for bare digits, as an international number without its
    "+" (Telegram sends a shared contact's number that way). ``business.phone_region`` is
    only the default for a number without a country code: any valid number of any country
    is accepted. A ``shared_contact`` number (Telegram checked it is the sender's own) needs
    only to be a possible number with its country code: libphonenumber's list of assigned
    ranges lags behind operators (and reserves some, e.g. the UK's 07700 900xxx).
    """
    candidate = text.strip()
    attempts = [candidate]
    if candidate[:1].isdigit():
        attempts.append("+" + candidate)
    parsed_numbers = []
    for attempt in attempts:
        try:
            parsed = phonenumbers.parse(attempt, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(parsed):
            return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
        if attempt.startswith("+"):
            parsed_numbers.append(parsed)
    for parsed in parsed_numbers if shared_contact else []:
        if phonenumbers.is_possible_number(parsed):
            return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    return None


def looks_like_phone(text: str) -> bool:
    """Typed text that is a phone number rather than words: digits (7 to 15) and the
    usual separators only."""
    digits = sum(ch.isdigit() for ch in text)
    return 7 <= digits <= 15 and all(ch.isdigit() or ch in "+-() ." for ch in text.strip())
