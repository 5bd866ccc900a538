"""User-visible text: Jinja2 templates per locale, HTML-escaped, rendered in a sandbox.

Each file in ``templates/<locale>/`` groups the messages of one area as named blocks;
``render(locale, "staff.purchase_recorded", ...)`` renders one block. Owners may override
a file by putting one with the same name in the override folder (sandboxed, so an edited
template cannot reach Python attributes).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from babel.numbers import format_currency, format_decimal
from jinja2 import ChoiceLoader, FileSystemLoader, StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

from bot.config import SUPPORTED_LOCALES

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"


class Texts:
    def __init__(
        self,
        currency: str,
        default_locale: str = "ru",
        root: Path = TEMPLATES_DIR,
        override_dir: Path | None = None,
    ) -> None:
        self.default_locale = default_locale
        self.currency = currency
        self._envs: dict[str, SandboxedEnvironment] = {}
        for locale in SUPPORTED_LOCALES:
            paths = [root / locale]
            if override_dir is not None:
                paths.insert(0, override_dir / locale)
            env = SandboxedEnvironment(
                loader=ChoiceLoader([FileSystemLoader(str(p)) for p in paths]),
                autoescape=True,
                trim_blocks=True,
                lstrip_blocks=True,
                undefined=StrictUndefined,
            )
            env.filters["money"] = self._money_filter(locale)
            env.filters["num"] = lambda v, _loc=locale: format_decimal(v, locale=_loc)
            self._envs[locale] = env

    def _money_filter(self, locale: str) -> Any:
        def money(value: Decimal | int | str) -> str:
            return format_currency(Decimal(value), self.currency, locale=locale)

        return money

    def locale_for(self, language: str | None) -> str:
        if language:
            short = language.split("-")[0].lower()
            if short in self._envs:
                return short
        return self.default_locale

    def render(self, locale: str, key: str, **context: Any) -> str:
        """Render block ``name`` of ``templates/<locale>/<area>.html`` for ``key='area.name'``."""
        area, _, block = key.partition(".")
        env = self._envs[self.locale_for(locale)]
        template = env.get_template(f"{area}.html")
        try:
            render_block = template.blocks[block]
        except KeyError:
            raise KeyError(f"no message {key!r} for locale {locale!r}") from None
        text = "".join(render_block(template.new_context(dict(context))))
        return text.strip()

    def block_names(self, locale: str, area: str) -> set[str]:
        return set(self._envs[locale].get_template(f"{area}.html").blocks)
