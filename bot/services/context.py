"""The business context every service receives as a parameter (no module-level singletons)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.clock import Clock
from bot.config import Settings
from bot.db.engine import Database
from bot.texts import Texts


@dataclass(frozen=True)
class Business:
    settings: Settings
    db: Database
    clock: Clock
    texts: Texts
