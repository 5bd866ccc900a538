"""The salted hashes kept of an identifier (a Telegram id, a phone) for records that must
outlive /forget without holding it: HMAC-SHA256 keyed with the secret
``privacy.id_hash_salt`` (``bot.config.salt``)."""

from __future__ import annotations

import hashlib
import hmac

from bot.config import Settings
from bot.config.salt import KNOWN_SALTS


def keyed_hash(salt: str, value: str) -> str:
    """HMAC-SHA256 of ``value`` under ``salt`` (the secret ``privacy.id_hash_salt``)."""
    return hmac.new(salt.encode(), value.encode(), hashlib.sha256).hexdigest()


def identity_hash(settings: Settings, value: str) -> str:
    """Salted hash of an identifier (a Telegram id, a phone) for records that must outlive
    /forget without holding the identifier itself."""
    return keyed_hash(settings.privacy.id_hash_salt, value)


def identity_hashes(settings: Settings, value: str) -> list[str]:
    """Every hash a record about ``value`` may be stored under: the secret salt's, then the
    public salts of earlier versions (kept by erased customers' records until an owner
    drops them: ``loyalty-bot rekey --drop-erased``, ``bot.config.salt``)."""
    return [identity_hash(settings, value), *(keyed_hash(s, value) for s in sorted(KNOWN_SALTS))]


def id_hash(settings: Settings, tg_id: int) -> str:
    """Salted hash of a Telegram id, kept after /forget only to refuse a second welcome
    bonus and a second referral (``signup.was_forgotten``)."""
    return identity_hash(settings, str(tg_id))
