"""Every message exists in both languages, renders, and escapes what users supply."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from jinja2 import meta

from bot.config import SUPPORTED_LOCALES
from bot.services.counter.purchases import AdjustResult
from bot.testing.telegram_double import plain_text as telegram_plain_text
from bot.texts import TEMPLATES_DIR, OverrideProblem, Texts

AREAS = sorted(p.stem for p in (TEMPLATES_DIR / "en").glob("*.html"))


@pytest.mark.parametrize("area", AREAS)
def test_same_messages_in_every_locale(area: str) -> None:
    texts = Texts("RUB")
    names = {locale: texts.block_names(locale, area) for locale in SUPPORTED_LOCALES}
    assert names["ru"] == names["en"], names["ru"] ^ names["en"]


def test_user_text_is_escaped_and_money_localized() -> None:
    texts = Texts("RUB")
    ru = texts.render(
        "ru", "customer.points_earned", amount=Decimal("1500.5"), points=75, balance=1075
    )
    en = texts.render(
        "en", "customer.points_earned", amount=Decimal("1500.5"), points=75, balance=1075
    )
    assert "1\xa0500,50\xa0₽" in ru and "1\xa0075" in ru
    assert "RUB1,500.50" in en or "₽1,500.50" in en
    hostile = texts.render("en", "customer.registered", name="<script>x</script>", card_code="A")
    assert "&lt;script&gt;" in hostile and "<script>" not in hostile


def test_owner_override_is_sandboxed(tmp_path) -> None:
    """An override reaching for Python internals is refused by the sandbox: the shipped
    text goes out and the refusal is reported."""
    override = tmp_path / "en"
    override.mkdir()
    (override / "menu.html").write_text(
        "{% block balance %}{{ x.__class__.__mro__ }}{% endblock %}", encoding="utf-8"
    )
    reported: list[OverrideProblem] = []
    texts = Texts("RUB", override_dir=tmp_path, on_problem=reported.append)
    shipped = Texts("RUB").render("en", "menu.balance", x=1)
    assert texts.render("en", "menu.balance", x=1) == shipped == "Points, status and the next one"
    assert [p.where for p in reported] == ["en/menu.balance"]
    assert reported[0].error.startswith("SecurityError")


def test_override_problems_are_found_at_start_up(tmp_path) -> None:
    """A file that does not compile, a block or a file the shipped texts do not have: each
    is reported once by the start-up check; the good blocks of other files still apply."""
    for locale in ("en", "ru"):
        (tmp_path / locale).mkdir()
    (tmp_path / "en" / "menu.html").write_text(
        "{% block balance %}{{ oops {% endblock %}", encoding="utf-8"
    )
    (tmp_path / "en" / "owner.html").write_text(
        "{% block rescore_started %}Counting!{% endblock %}"
        "{% block rescore_strated %}typo{% endblock %}",
        encoding="utf-8",
    )
    (tmp_path / "ru" / "custmer.html").write_text(
        "{% block balance %}x{% endblock %}", encoding="utf-8"
    )
    reported: list[OverrideProblem] = []
    texts = Texts("RUB", override_dir=tmp_path, on_problem=reported.append)
    problems = texts.check_overrides()
    assert sorted(p.where for p in problems) == [
        "en/menu.html", "en/owner.rescore_strated", "ru/custmer.balance",
    ]  # fmt: skip
    assert reported == problems
    assert texts.check_overrides() == problems and len(reported) == 3  # reported once
    assert texts.render("en", "owner.rescore_started") == "Counting!"
    assert texts.render("en", "menu.balance") == "Points, status and the next one"


def test_owner_override_can_use_the_shipped_labels(tmp_path) -> None:
    """An owner's own /rescore summary still names segments through labels.html; the
    blocks the owner did not override come from the shipped file."""
    override = tmp_path / "en"
    override.mkdir()
    (override / "owner.html").write_text(
        '{% block rescore_done %}{% from "labels.html" import SEGMENT %}'
        "Top: {{ SEGMENT['cant_lose'] }}{% endblock %}",
        encoding="utf-8",
    )
    texts = Texts("RUB", override_dir=tmp_path)
    assert texts.render("en", "owner.rescore_done", s=None) == "Top: Can&#39;t lose"
    assert texts.render("en", "owner.rescore_started").startswith("Reclassifying")


def test_unknown_locale_falls_back_to_default() -> None:
    texts = Texts("RUB", default_locale="ru")
    assert texts.locale_for("de-DE") == "ru" and texts.locale_for("en-GB") == "en"


def test_button_labels_are_plain_text() -> None:
    """Telegram does not parse HTML in buttons: "Tom & Jerry" must not show as "&amp;"."""
    texts = Texts("RUB")
    assert texts.plain("en", "owner.button_remove", name="Tom & <Jerry>") == (
        "Remove Tom & <Jerry>"
    )


COUNTS = (0, 1, 2, 5, 11, 21, 22, 25, 101, 111)


def test_counts_take_the_plural_form_cldr_gives() -> None:
    """Babel's CLDR plural rules, with the word forms in templates/<locale>/plurals.html."""
    texts = Texts("RUB")
    ru = [texts._envs["ru"].filters["plural"](n, "point") for n in COUNTS]
    en = [texts._envs["en"].filters["plural"](n, "point") for n in COUNTS]
    assert ru == [
        "0 баллов", "1 балл", "2 балла", "5 баллов", "11 баллов",
        "21 балл", "22 балла", "25 баллов", "101 балл", "111 баллов",
    ]  # fmt: skip
    assert en == ["0 points", "1 point", *(f"{n} points" for n in COUNTS[2:])]
    customers = [texts._envs["en"].filters["plural"](n, "customer") for n in (1, 2)]
    assert customers == ["1 customer", "2 customers"]


@pytest.mark.parametrize(("points", "ru", "en"), [
    (1, "+1 балл", "+1 point"), (21, "+21 балл", "+21 points"), (22, "+22 балла", "+22 points"),
    (111, "+111 баллов", "+111 points"),
])  # fmt: skip
def test_messages_agree_with_their_counts(points: int, ru: str, en: str) -> None:
    texts = Texts("RUB")
    context = {"amount": Decimal("100"), "points": points, "balance": points}
    assert ru in texts.render("ru", "customer.points_earned", **context)
    assert en in texts.render("en", "customer.points_earned", **context)
    adjusted = AdjustResult(customer_id=1, card_code="AB12", customer_name=None,
                            points=-points, balance=0)  # fmt: skip
    balance = texts.render("ru", "owner.adjusted", r=adjusted)
    assert f"−{points}" in balance.replace("-", "−") and ru.split()[1] in balance


def test_percentages_and_decimals_in_the_readers_locale() -> None:
    """ "100,0 %" in Russian, "100.0%" in English (Babel's percent patterns)."""
    texts = Texts("RUB")
    ru, en = texts._envs["ru"].filters, texts._envs["en"].filters
    assert ru["pct"](100.0) == "100,0\xa0%" and en["pct"](100.0) == "100.0%"
    assert ru["pct"](57.25, 0) == "57\xa0%" and en["dec"](1.5, 2) == "1.50"
    assert ru["dec"](1234.5) == "1\xa0234,5"


def test_moments_in_the_readers_locale_and_the_business_zone() -> None:
    """An invitation's expiry: Babel's short date and time, in the business's time zone."""
    texts = Texts("RUB", timezone="Europe/Moscow")
    moment = datetime(2026, 11, 27, 15, 37, tzinfo=UTC)  # 18:37 in Moscow
    ru = texts.render("ru", "owner.invite_created", link="L", expires=moment)
    en = texts.render("en", "owner.invite_created", link="L", expires=moment)
    assert "27.11.2026, 18:37" in ru and "11/27/26" in en and "6:37" in en


def test_the_cli_counts_with_the_same_rules() -> None:
    texts = Texts("RUB")
    assert [texts.count("en", n, "customer") for n in (0, 1, 2)] == [
        "0 customers", "1 customer", "2 customers",
    ]  # fmt: skip
    assert texts.count("ru", 21, "point") == "21 балл"


class Sample(int):
    """Whatever a message asks for: a number (21), an object with any attribute, a list of
    two, a moment in time. Lets every block render without a hand-written context."""

    def __new__(cls, value: int = 21) -> Sample:
        return super().__new__(cls, value)

    def __getattr__(self, name: str) -> Sample:
        if name.startswith("_"):
            raise AttributeError(name)
        return Sample()

    def __getitem__(self, key: object) -> Sample:
        return Sample()

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter([Sample(1), Sample(22)])

    def __len__(self) -> int:
        return 2

    def __call__(self, *args: object, **kwargs: object) -> Sample:
        return Sample()

    def astimezone(self, zone: object = None) -> datetime:
        return datetime(2026, 11, 26, 15, 0, tzinfo=UTC).astimezone(zone)  # type: ignore[arg-type]


LABELLED = re.compile(r"<b>[^<]+</b>:")
RUN_TOGETHER = re.compile(r"[a-zа-яё0-9)][A-ZА-ЯЁ][a-zа-яё]")  # "eachAverage", "21Покажите"
MESSAGE_AREAS = [a for a in AREAS if a not in ("labels", "plurals")]


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
@pytest.mark.parametrize("area", MESSAGE_AREAS)
def test_every_message_renders_as_valid_telegram_html_with_its_lines_apart(
    locale: str, area: str
) -> None:
    """Every block of every template, rendered with sample values, is valid Telegram HTML
    (the double's own parser), keeps one labelled item per line, runs no two sentences
    together and has no double full stop."""
    texts = Texts("RUB")
    env = texts._envs[locale]
    names = meta.find_undeclared_variables(env.parse((TEMPLATES_DIR / locale / f"{area}.html")
                                                     .read_text(encoding="utf-8")))  # fmt: skip
    context = {name: Sample() for name in names}
    problems = []
    for block in sorted(texts.block_names(locale, area)):
        html_text = texts.render(locale, f"{area}.{block}", **context)
        try:
            plain = telegram_plain_text(html_text, "HTML")
        except Exception as err:  # the double refuses it as Telegram would
            problems.append(f"{block}: {err}")
            continue
        problems += [
            f"{block}: two labels on one line: {line[:80]}"
            for line in html_text.split("\n")
            if len(LABELLED.findall(line)) > 1
        ]
        problems += [
            f"{block}: run together near {plain[max(0, m.start() - 15) : m.end() + 15]!r}"
            for m in RUN_TOGETHER.finditer(plain)
        ]
        if ".." in plain.replace("...", ""):
            problems.append(f"{block}: double full stop")
    assert problems == []


async def test_the_override_folder_comes_from_the_config(tmp_path) -> None:
    from bot.app import build_business
    from tests.conftest import make_settings

    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "menu.html").write_text(
        "{% block balance %}My points{% endblock %}", encoding="utf-8"
    )
    settings = make_settings(
        f"sqlite+aiosqlite:///{tmp_path / 'x.db'}", texts={"override_dir": str(tmp_path)}
    )
    biz = build_business(settings)
    try:
        assert biz.texts.render("en", "menu.balance") == "My points"
        assert biz.texts.render("ru", "menu.balance") == Texts("RUB").render("ru", "menu.balance")
    finally:
        await biz.db.dispose()
