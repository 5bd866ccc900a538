"""User-visible text: Jinja2 templates per locale, HTML-escaped, rendered in a sandbox.

Each file in ``templates/<locale>/`` groups the messages of one area as named blocks;
``render(locale, "staff.purchase_recorded", ...)`` renders one block. Owners may override
any block by putting a file with the same name in the override folder and defining just
that block there; every other block still comes from the shipped file. Templates render
in a sandbox, so an edited template cannot reach Python attributes.

A broken override never costs a message: a file that does not compile, a block the shipped
file does not have, a block that fails when rendered (an unknown variable, a sandbox
refusal) or renders what Telegram would refuse (invalid HTML, empty, too long:
``bot.telegram_html``) is reported once (``problems``, ``on_problem``) and the shipped
text is sent instead.
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.numbers import (
    format_currency,
    format_decimal,
    format_percent,
    get_currency_symbol,
)
from jinja2 import FileSystemLoader, StrictUndefined, Template, TemplateNotFound
from jinja2.exceptions import SecurityError, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from bot import telegram_html
from bot.config import DEFAULT_LOCALE, SUPPORTED_LOCALES

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OverrideProblem:
    """What is wrong with an owner's override; ``where`` is "en/customer.html" or
    "en/customer.balance"."""

    where: str
    error: str


# What an override can get wrong; anything else is a bug of ours and is not hidden.
_OVERRIDE_ERRORS = (TemplateError, SecurityError, TypeError, ValueError, ArithmeticError)


PLURALS = "plurals.html"
_TAG = re.compile(r"</?[a-z][a-z-]*(?: [^<>]*)?>")


def _word_forms(env: SandboxedEnvironment) -> dict[str, dict[str, str]]:
    """``plurals.html``'s blocks: word -> {CLDR category: form}."""
    template = env.get_template(PLURALS)
    forms: dict[str, dict[str, str]] = {}
    for word, render in template.blocks.items():
        spec = "".join(render(template.new_context({}))).strip()
        forms[word] = dict(item.split("=", 1) for item in spec.split("|"))
    return forms


class Counted(int):
    """A number that prints with its word in the reader's plural form («172 балла»), for
    placeholders an owner types bare (``{{ balance }}``); it still compares and adds as a
    number, and the ``num``/``plural`` filters take its bare value."""

    text: str

    def __new__(cls, value: int, text: str) -> Counted:
        number = super().__new__(cls, value)
        number.text = text
        return number

    def __str__(self) -> str:
        return self.text


def _bare(value: Any) -> Any:
    return int(value) if isinstance(value, Counted) else value


class Texts:
    def __init__(
        self,
        currency: str,
        default_locale: str = DEFAULT_LOCALE,
        root: Path = TEMPLATES_DIR,
        override_dir: Path | None = None,
        timezone: str = "UTC",
        on_problem: Callable[[OverrideProblem], None] | None = None,
    ) -> None:
        self.default_locale = default_locale
        self.on_problem = on_problem
        self.problems: dict[str, OverrideProblem] = {}
        self.currency = currency
        self.zone = ZoneInfo(timezone)
        self._envs: dict[str, SandboxedEnvironment] = {}
        self._overrides: dict[str, SandboxedEnvironment] = {}
        for locale in SUPPORTED_LOCALES:
            self._envs[locale] = self._environment(root / locale, locale)
            if override_dir is not None and (override_dir / locale).is_dir():
                # an overridden block may still import the shipped labels.html
                self._overrides[locale] = self._environment(
                    override_dir / locale, locale, fallback=root / locale
                )

    def _environment(
        self, folder: Path, locale: str, fallback: Path | None = None
    ) -> SandboxedEnvironment:
        env = SandboxedEnvironment(
            loader=FileSystemLoader([str(f) for f in (folder, fallback) if f is not None]),
            auto_reload=False,  # templates are read once per process; restart to pick up edits
            autoescape=True,
            trim_blocks=True,
            lstrip_blocks=True,
            undefined=StrictUndefined,
        )
        parsed = Locale.parse(locale)  # parsed once: Babel would re-parse it on every call
        env.filters["money"] = self._money_filter(parsed)
        env.filters["num"] = lambda v, _loc=parsed: format_decimal(_bare(v), locale=_loc)
        env.filters["pct"] = self._percent_filter(parsed)
        env.filters["dec"] = lambda v, places=1, _loc=parsed: format_decimal(
            v, format="#,##0." + "0" * places, locale=_loc
        )
        word_of = self._word_filter(parsed, _word_forms(env))
        env.filters["plural_word"] = word_of
        env.filters["plural"] = lambda v, word, _loc=parsed, _w=word_of: (
            f"{format_decimal(_bare(v), locale=_loc)} {_w(_bare(v), word)}"
        )
        env.filters["day"] = lambda v, _loc=parsed: format_date(
            v.astimezone(self.zone), format="medium", locale=_loc
        )
        env.filters["signed"] = lambda v, _loc=parsed: format_decimal(
            v, format="+#,##0;-#,##0", locale=_loc
        )
        env.filters["moment"] = lambda v, _loc=parsed: format_datetime(
            v.astimezone(self.zone), format="short", locale=_loc
        )
        return env

    @staticmethod
    def _word_filter(locale: Locale, forms: dict[str, dict[str, str]]) -> Any:
        """``{{ n|plural_word("point") }}``: the word alone ("балл", "балла", "баллов") by
        the CLDR plural rules; ``{{ n|plural("point") }}`` puts the number before it."""

        def word_of(value: int | Decimal, word: str) -> str:
            return forms[word][locale.plural_form(abs(value))]

        return word_of

    @staticmethod
    def _percent_filter(locale: Locale) -> Any:
        """``{{ 57.25|pct }}``: "57,3 %" in Russian, "57.3%" in English: the locale's own
        percent pattern with ``places`` decimals (the value is in percent, not a share)."""
        base = locale.percent_formats[None].pattern

        def pct(value: float, places: int = 1) -> str:
            cut = base.rfind("0") + 1
            pattern = base[:cut] + ("." + "0" * places if places else "") + base[cut:]
            return format_percent(value / 100, format=pattern, locale=locale)

        return pct

    def _money_filter(self, locale: Locale) -> Any:
        """The locale's own currency format. Where the locale has no symbol of its own for
        the currency (English for roubles), Babel would glue the ISO code on
        («RUB30,000.00»): the symbol of the business's own language goes into the
        locale's pattern instead («₽30,000.00»)."""
        own = locale.currency_symbols.get(self.currency, self.currency)
        home = next(
            (
                symbol
                for language in (self.default_locale, *SUPPORTED_LOCALES)
                if (symbol := get_currency_symbol(self.currency, language)) != self.currency
            ),
            self.currency,
        )
        if own != self.currency or home == self.currency:

            def money(value: Decimal | int | str) -> str:
                return format_currency(Decimal(value), self.currency, locale=locale)

            return money
        pattern = locale.currency_formats["standard"].pattern.replace("\u00a4", home)

        def money(value: Decimal | int | str) -> str:  # type: ignore[misc]
            return format_decimal(Decimal(value), format=pattern, locale=locale)

        return money

    def number(self, locale: str, value: float | Decimal | int) -> str:
        """A number as ``locale`` writes it, grouped («105 000», «105,000»), for places
        outside templates such as chart ticks."""
        return format_decimal(value, locale=self.locale_for(locale))

    def locale_for(self, language: str | None) -> str:
        if language:
            short = language.split("-")[0].lower()
            if short in self._envs:
                return short
        return self.default_locale

    def render(self, locale: str, key: str, **context: Any) -> str:
        """Render block ``name`` of ``templates/<locale>/<area>.html`` for ``key='area.name'``."""
        area, _, block = key.partition(".")
        locale = self.locale_for(locale)
        name = f"{area}.html"
        override = self._override(locale, name)
        own: str | None = None
        if override is not None and block in override.blocks:
            try:
                own = self._render_block(override, block, context)
            except _OVERRIDE_ERRORS as err:
                self._report(f"{locale}/{area}.{block}", err)
        template = self._envs[locale].get_template(name)
        if block not in template.blocks:
            raise KeyError(f"no message {area}.{block} for locale {locale!r}")
        if own is not None and (problem := telegram_html.problem(own)) is None:
            return own
        shipped = self._render_block(template, block, context)
        if own is not None and telegram_html.problem(shipped) is not None:
            return own  # a fragment (empty, say) as the shipped block is: nothing to fix
        if own is not None:
            self._report(f"{locale}/{area}.{block}", ValueError(problem))
        return shipped

    @staticmethod
    def _render_block(template: Template, block: str, context: dict[str, Any]) -> str:
        render_block = template.blocks[block]
        return "".join(render_block(template.new_context(dict(context)))).strip()

    def _override(self, locale: str, name: str) -> Template | None:
        """The owner's file of that name, if there is one and it compiles."""
        env = self._overrides.get(locale)
        if env is None:
            return None
        try:
            return env.get_template(name)
        except TemplateNotFound:
            return None
        except TemplateError as err:
            self._report(f"{locale}/{name}", err)
            return None

    def _report(self, where: str, err: Exception) -> None:
        """Once per place: log it and tell ``on_problem`` (the app tells the owners)."""
        if where in self.problems:
            return
        problem = OverrideProblem(where=where, error=f"{type(err).__name__}: {err}"[:300])
        self.problems[where] = problem
        log.error("owner's template override is broken; the shipped text is used instead",
                  extra={"where": where, "error": problem.error})  # fmt: skip
        if self.on_problem is not None:
            self.on_problem(problem)

    def check_overrides(self) -> list[OverrideProblem]:
        """Every override file compiled and every block in it matched against the shipped
        file (start-up check); rendering problems are only found when a message is sent."""
        for locale, env in self._overrides.items():
            shipped = self._envs[locale]
            for name in env.list_templates(filter_func=lambda n: "/" not in n):
                own = self._override(locale, name)
                if own is None:
                    continue
                if own.filename is None or not Path(own.filename).is_relative_to(
                    Path(env.loader.searchpath[0])  # type: ignore[union-attr]
                ):
                    continue  # not the owner's file: the shipped one through the fallback
                try:
                    known = set(shipped.get_template(name).blocks)
                except TemplateNotFound:
                    known = set()
                for block in sorted(set(own.blocks) - known):
                    self._report(
                        f"{locale}/{name[:-5]}.{block}",
                        KeyError(f"no such message in the shipped {name}"),
                    )
        return list(self.problems.values())

    def count(self, locale: str, value: int, word: str) -> str:
        """``value`` with ``word`` in the plural form CLDR gives ("1 customer", "21 балл"),
        for text outside the templates (the CLI)."""
        return str(self._envs[self.locale_for(locale)].filters["plural"](value, word))

    def format(self, locale: str, how: str, value: Any) -> str:
        """A value as the templates' filter ``how`` writes it ("num", "money", "pct",
        "day"), for text drawn outside a template (the Mini App's chart labels)."""
        return str(self._envs[self.locale_for(locale)].filters[how](value))

    def plain(self, locale: str, key: str, **context: Any) -> str:
        """For button labels: Telegram shows them as typed, so no HTML entities."""
        return html.unescape(self.render(locale, key, **context))

    def console(self, locale: str, key: str, **context: Any) -> str:
        """For the command line: the message without its HTML tags and entities."""
        return html.unescape(_TAG.sub("", self.render(locale, key, **context)))

    def block_names(self, locale: str, area: str) -> set[str]:
        return set(self._envs[locale].get_template(f"{area}.html").blocks)
