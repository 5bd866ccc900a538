"""Messages rendered when they are sent, not when they are queued.

A notice is queued inside the transaction that caused it (a purchase, a redemption's
confirmation), where rendering its template would hold the write transaction (on SQLite,
every other writer waits for it) for work that needs no database. So such an outbox row
keeps the template's key, the recipient's language and the context as JSON (``Deferred``;
``text`` stays empty), and the sender renders it just before sending (``render``) and
stores the text it sent. An owner's override therefore applies to messages already queued.
A row queued by an older version whose template now needs a value its context lacks is
sent as ``FALLBACK`` (a line pointing to /history), never lost.

JSON carries str, int, float, bool and None; Decimal, datetime and date are tagged
(``{"$dec": "12.50"}``) so that a template's filters get the types they were written for.
Anything else is refused when the row is built, inside the caller's transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from jinja2 import UndefinedError

from bot.texts import Texts

log = logging.getLogger(__name__)

_THAW: dict[str, Callable[[str], Any]] = {
    "$dec": Decimal,
    "$dt": datetime.fromisoformat,
    "$date": date.fromisoformat,
}


def _freeze(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float):  # bool is an int
        return value
    if isinstance(value, Decimal):
        return {"$dec": str(value)}
    if isinstance(value, datetime):  # before date: a datetime is a date
        return {"$dt": value.isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    if isinstance(value, list | tuple):
        return [_freeze(item) for item in value]
    raise TypeError(f"a {type(value).__name__} cannot wait in a queued message's context")


def _thaw(value: Any) -> Any:
    if isinstance(value, dict):
        ((tag, text),) = value.items()
        return _THAW[tag](text)
    if isinstance(value, list):
        return [_thaw(item) for item in value]
    return value


@dataclass(frozen=True)
class Deferred:
    """Block ``template`` ("area.name") of the ``locale`` templates, with ``context``."""

    locale: str
    template: str
    context: Mapping[str, Any]

    def columns(self) -> dict[str, Any]:
        """The outbox row's columns for it (``text`` stays None until it is sent)."""
        frozen = {name: _freeze(value) for name, value in self.context.items()}
        return {"text": None, "template": self.template, "locale": self.locale, "context": frozen}


# An outbox row whose text is given: the same columns, empty.
NOT_DEFERRED: dict[str, Any] = {"template": None, "locale": None, "context": None}


# What a row says when its context no longer fits its template (queued by an older
# version whose template needed other values): a safe line pointing to the details.
FALLBACK = "customer.queued_fallback"


def render(texts: Texts, template: str, locale: str | None, context: Mapping[str, Any]) -> str:
    """The text of a deferred row (columns ``template``, ``locale``, ``context``)."""
    values = {name: _thaw(value) for name, value in context.items()}
    locale = locale or texts.default_locale
    try:
        return texts.render(locale, template, **values)
    except UndefinedError as err:  # a context from an older version
        log.warning("queued message's context does not fit %s (%s): sent as %s",
                    template, err, FALLBACK)  # fmt: skip
        return texts.render(locale, FALLBACK)


def text_of(texts: Texts, message: Any) -> str | None:
    """What an outbox row says (or will say): its text, else its template rendered now."""
    if message.text is not None or not message.template:
        return message.text  # type: ignore[no-any-return]
    return render(texts, message.template, message.locale, message.context or {})
