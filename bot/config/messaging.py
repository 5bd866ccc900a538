"""Configuration of what the bot says and to whom: owners' own texts, campaigns."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from bot.config.base import Section


class TextsSettings(Section):
    """Owners' own wording: a folder with ``ru/`` and ``en/`` files named like the shipped
    ``templates/<locale>/*.html``, each defining only the blocks it changes."""

    override_dir: Path | None = None


class CampaignSettings(Section):
    """Measuring what broadcasts and scheduled jobs bring (bot.services.campaigns)."""

    holdout_percent: int = Field(default=10, ge=0, le=50)  # kept out of each send, compared
    report_days: int = Field(default=14, ge=1, le=365)  # purchases counted after a send
