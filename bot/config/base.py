"""What every configuration section shares: the base model, the locales, the error type."""

from __future__ import annotations

from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict

Locale = Literal["ru", "en"]
SUPPORTED_LOCALES: tuple[str, ...] = get_args(Locale)
DEFAULT_LOCALE: Locale = "ru"  # until the owner sets business.default_language


class ConfigError(Exception):
    """A configuration problem, phrased for the operator: key and reason."""


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def localized(value: dict[str, Any], what: str) -> dict[str, Any]:
    missing = [loc for loc in SUPPORTED_LOCALES if loc not in value]
    extra = [loc for loc in value if loc not in SUPPORTED_LOCALES]
    if missing or extra:
        raise ValueError(f"{what} needs exactly the locales {', '.join(SUPPORTED_LOCALES)}")
    return value
