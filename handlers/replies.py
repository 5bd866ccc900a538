"""Small helpers every router uses to turn results and refusals into template text."""

from __future__ import annotations

from typing import Any

from bot.commands import CommandError
from bot.services.context import Business
from bot.services.errors import ServiceError
from bot.services.roles import Actor


def text(biz: Business, actor: Actor, key: str, **context: Any) -> str:
    return biz.texts.render(actor.locale, key, **context)


def refusal(biz: Business, actor: Actor, err: CommandError | ServiceError) -> str:
    return biz.texts.render(actor.locale, f"errors.{err.code}", **err.params)


def recorded(biz: Business, actor: Actor, key: str, duplicate: bool, **context: Any) -> str:
    """The result, prefixed with "already recorded" when the update was a re-delivery."""
    body = text(biz, actor, key, **context)
    if duplicate:
        return f"{text(biz, actor, 'staff.already_recorded')}\n{body}"
    return body
