"""The secret that keys the hashes kept after /forget (``privacy.id_hash_salt``).

Hashes of phones and Telegram ids can be enumerated (every Russian mobile number in a
couple of core-hours), so the key must be secret: nothing ships one. The first start
(``make run`` runs ``loyalty-bot migrate`` first) writes a random one into the config
file, or it comes from the environment (``LOYALTY_PRIVACY__ID_HASH_SALT``); never into
the database, so a leaked dump does not carry its own key. A salt anyone knows (the
default of earlier versions) is refused at start-up: ``loyalty-bot rekey`` replaces it
and re-keys the database (``bot.services.members.rekey``).
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from bot.config.base import ConfigError

if TYPE_CHECKING:
    from bot.config import Settings

ENV_NAME = "LOYALTY_PRIVACY__ID_HASH_SALT"
# Salts earlier versions shipped in code and config.example.toml: public, so no secret.
KNOWN_SALTS = frozenset({"loyalty-bot"})
_LINE = re.compile(r'^id_hash_salt\s*=.*$', re.MULTILINE)
_SECTION = re.compile(r"^\[privacy\]\s*$", re.MULTILINE)


def new_salt() -> str:
    return secrets.token_urlsafe(32)


def is_public(salt: str) -> bool:
    """No salt, or one published with the code."""
    return not salt or salt in KNOWN_SALTS


def refusal(salt: str) -> str | None:
    """The one line start-up says about this salt, or None when it is a secret."""
    if salt in KNOWN_SALTS:
        return (
            f"privacy.id_hash_salt is {salt!r}, a default published with the code: anyone "
            "can recover phones from the hashes it keys. Run `loyalty-bot rekey` (it sets a "
            "secret salt and re-keys the database)"
        )
    if not salt:
        return f"privacy.id_hash_salt is empty: set {ENV_NAME} or id_hash_salt in the config"
    return None


def database_refusal(used: str) -> str:
    return (
        f"the database's hashes are keyed with {used!r}, a salt published with the code: "
        "run `loyalty-bot rekey` to re-key them with a secret one"
    )


def write_salt(path: Path, salt: str) -> None:
    """Put ``salt`` into the config file's ``[privacy]`` section, keeping the rest as is."""
    text = path.read_text(encoding="utf-8")
    line = f'id_hash_salt = "{salt}"'
    if _LINE.search(text):
        text = _LINE.sub(line, text, count=1)
    elif _SECTION.search(text):
        text = _SECTION.sub(lambda m: f"{m.group(0)}\n{line}", text, count=1)
    else:
        text = text.rstrip("\n") + f"\n\n[privacy]\n{line}\n"
    path.write_text(text, encoding="utf-8")


def settled(path: Path, load: Callable[[Path], Settings]) -> Settings:
    """The settings of ``path``; on the first start (no salt in the file or the
    environment) a random salt is written into the file first."""
    settings = load(path)
    if settings.privacy.id_hash_salt or os.environ.get(ENV_NAME):
        return settings
    try:
        write_salt(path, new_salt())
    except OSError as err:
        raise ConfigError(
            f"cannot write a new privacy.id_hash_salt into {path} ({err.strerror}): "
            f"set {ENV_NAME} instead"
        ) from None
    return load(path)
