"""A broadcast's message for one customer: a shipped template or the owner's own text.

The owner's text is plain text with Jinja2 placeholders (``Hello, {{ name }}! Your
{{ make }} {{ model }} ...``). It is compiled in Jinja2's SandboxedEnvironment with
StrictUndefined: the text around the placeholders is escaped for Telegram HTML (the owner
writes plain text), every value is escaped by autoescape, and a placeholder the customer
has no value for (a profile field they skipped) is an error, not an empty gap. The wizard
renders the message for EVERY customer of the audience at the preview
(:func:`check_all`), so such errors stop the broadcast there, never half-way through;
each result must be valid Telegram HTML (``bot.telegram_html``), and the owner's text
runs in a budgeted sandbox (``owner_template``).
"""

from __future__ import annotations

import asyncio
import html
import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from jinja2 import TemplateSyntaxError
from markupsafe import Markup
from pydantic import BaseModel, Field

from bot import telegram_html
from bot.services.campaigns.owner_template import (
    BudgetExceeded,
    OwnerSandbox,
    render_within_budget,
)
from bot.services.context import Business
from bot.services.money.tiers import tier_of
from bot.texts import Counted

MAX_TEXT = 3000  # the owner's text; the rendered message must fit Telegram's 4096
MAX_RENDERED = 3500  # leaves room for the offer line under the body
TEMPLATE_PREFIX = "tpl_"  # blocks of templates/<locale>/broadcast.html offered as templates
SHOWN_FAILURES = 5

_ENV = OwnerSandbox()
_JINJA = re.compile(r"({{.*?}}|{%.*?%}|{#.*?#})", re.DOTALL)


OwnerText = Annotated[str, Field(min_length=1, max_length=MAX_TEXT)]


class MessageSpec(BaseModel):
    """What the owner chose: a shipped template (``tpl_<name>`` block) or their own text.
    The own text is written in ``language`` (the owner's); ``texts`` holds the same
    message in other languages (locale -> text) for the customers who read them. A
    customer whose language has no text gets ``body``; a template speaks each
    customer's language by itself."""

    kind: Literal["template", "text"]
    body: OwnerText
    language: str | None = Field(default=None, max_length=8)
    texts: dict[Annotated[str, Field(max_length=8)], OwnerText] = Field(
        default_factory=dict, max_length=8
    )

    def text_language(self, locale: str) -> str:
        """The language the message reaches a reader of ``locale`` in."""
        if self.kind == "template" or locale in self.texts:
            return locale
        return self.language or locale


class MessageError(ValueError):
    """The owner's text does not compile (broken Jinja)."""


@dataclass(frozen=True)
class Failure:
    customer_id: int
    card_code: str
    name: str | None
    error: str


@dataclass(frozen=True)
class CheckResult:
    checked: int
    failed: int
    examples: list[Failure]

    @property
    def ok(self) -> bool:
        return self.failed == 0


def _as_template_source(text: str) -> str:
    """Plain text around the placeholders escaped for HTML; the placeholders kept."""
    parts = _JINJA.split(text)
    return "".join(p if i % 2 else html.escape(p, quote=False) for i, p in enumerate(parts))


def compile_text(text: str) -> Any:
    """The owner's text as a sandboxed template; MessageError when Jinja cannot parse it."""
    try:
        return _ENV.compile_owner(_as_template_source(text))
    except TemplateSyntaxError as err:
        raise MessageError(f"line {err.lineno}: {err.message}") from None


def placeholders(biz: Business, customer: Any, tier_name: str | None = None) -> dict[str, Any]:
    """(``customer``: a Customer or a customers row, ``audience.customers``.) The values a
    message may use: name, tier, balance, card, and each profile answer the
    customer gave (a skipped field is absent, so using it is an error)."""
    values: dict[str, Any] = {
        "name": customer.name or "",
        "tier": tier_name
        if tier_name is not None
        else tier_of(biz.settings, customer.tier).name(biz.texts.locale_for(customer.language)),
        # «172 балла» where the owner writes {{ balance }} (Counted: a number with its word)
        "balance": Counted(
            customer.balance,
            biz.texts.count(customer.language, customer.balance, "point"),
        ),
        "card": customer.card_code,
    }
    for field in biz.settings.profile.fields:
        answer = (customer.profile or {}).get(field.code)
        if answer is not None and answer != "":
            values[field.code] = answer
    return values


def placeholder_names(biz: Business) -> list[str]:
    return ["name", "tier", "balance", "card", *(f.code for f in biz.settings.profile.fields)]


class Renderer:
    """Renders one spec for many customers (the text compiled once)."""

    def __init__(self, biz: Business, spec: MessageSpec) -> None:
        self.biz = biz
        self.spec = spec
        self._compiled = compile_text(spec.body) if spec.kind == "text" else None
        self._by_language = {
            locale: compile_text(body) for locale, body in spec.texts.items()
        } if spec.kind == "text" else {}  # fmt: skip
        self._tiers: dict[tuple[str | None, str], str] = {}  # (tier, language) -> its name
        if spec.kind == "template" and not spec.body.startswith(TEMPLATE_PREFIX):
            raise MessageError(f"not a broadcast template: {spec.body!r}")

    def render(self, customer: Any) -> Markup:
        """The body for ``customer`` (escaped HTML); TemplateError/MessageError on failure."""
        tier_key = (customer.tier, customer.language)
        tier_name = self._tiers.get(tier_key)
        if tier_name is None:
            locale = self.biz.texts.locale_for(customer.language)
            tier_name = self._tiers[tier_key] = tier_of(self.biz.settings, customer.tier).name(
                locale
            )
        context = placeholders(self.biz, customer, tier_name)
        if self._compiled is None:
            body = self.biz.texts.render(
                customer.language, f"broadcast.{self.spec.body}", **context
            )
        else:
            locale = self.biz.texts.locale_for(customer.language)
            compiled = self._by_language.get(locale, self._compiled)
            body = render_within_budget(_ENV, compiled, context).strip()
        if not body:
            raise MessageError("the message is empty")
        if len(body) > MAX_RENDERED:
            raise MessageError(f"the message is {len(body)} characters, over {MAX_RENDERED}")
        problem = telegram_html.problem(body)
        if problem is not None:
            raise MessageError(problem)
        return Markup(body)


def describe(err: Exception) -> str:
    """A failure as the owner reads it (Jinja's own words: "'make' is undefined")."""
    return str(err)[:200] or type(err).__name__


def check_all(biz: Business, spec: MessageSpec, customers: list[Any]) -> CheckResult:
    """Render for every customer; count the failures and keep a few examples. Whatever
    the owner's text raises is its failure (``owner_template``); once it runs out of its
    time budget, the customers not yet rendered count as failed too (it would for them).
    MessageError from compiling is raised: nothing can be rendered then."""
    renderer = Renderer(biz, spec)
    failed = 0
    examples: list[Failure] = []
    for done, customer in enumerate(customers):
        try:
            renderer.render(customer)
        except Exception as err:  # the owner's code, sandboxed: any error is the text's
            failed += 1
            if len(examples) < SHOWN_FAILURES:
                examples.append(
                    Failure(customer.id, customer.card_code, customer.name, describe(err))
                )
            if isinstance(err, BudgetExceeded):
                failed += len(customers) - done - 1
                break
    return CheckResult(checked=len(customers), failed=failed, examples=examples)


async def check_all_async(biz: Business, spec: MessageSpec, customers: list[Any]) -> CheckResult:
    """:func:`check_all` in a worker thread: the event loop keeps serving others."""
    return await asyncio.to_thread(check_all, biz, spec, customers)


def template_names(biz: Business, locale: str) -> list[str]:
    """The shipped broadcast templates (``tpl_*`` blocks), in a stable order."""
    return sorted(
        name for name in biz.texts.block_names(locale, "broadcast")
        if name.startswith(TEMPLATE_PREFIX)
    )  # fmt: skip
