"""The broadcast's whole-audience check (issue 19, item 4): every recipient's message is
rendered and validated as Telegram HTML and length; ``safe`` on customer data is refused;
a text that raises anything else (division by zero, a huge range, a recursive macro, a
string multiplied into gigabytes) gets the same "fails for N of M" report instead of
"Sorry, something went wrong"; rendering runs within a time budget, off the event loop."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import update

from bot import telegram_html
from bot.config import Settings
from bot.db.models import Customer
from bot.testing.telegram_double import buttons, find_button
from tests.conftest import BACKENDS, make_settings
from tests.support.flows import join
from tests.support.harness import OWNER_ID, App

LINK = '<a href="https://evil.example">click</a>'


@pytest.fixture
def settings(db_url: str) -> Settings:
    return make_settings(db_url, campaigns={"holdout_percent": 0})


async def _three(app: App) -> None:
    for n, (name, balance) in enumerate((("Ann", 50), (LINK, 20), ("Cat", 0)), start=1):
        customer = await join(app, app.user(5300 + n, "en"), name=f"C{n}")
        async with app.biz.db.write() as session:
            await session.execute(
                update(Customer).where(Customer.id == customer.id)
                .values(name=name, balance=balance, marketing_opt_in=True)
            )  # fmt: skip


async def _check(app: App, body: str) -> str:
    """The owner's own text through the wizard up to the check; what the bot answered."""
    await app.owner.send("/broadcast")
    for label in ("Next", "Write my own text"):
        call = app.fake.last(OWNER_ID)
        await app.owner.click(find_button(call, label), call)
    await app.owner.send(body)
    call = app.fake.last(OWNER_ID)
    if any("No offer" in label for label, _ in buttons(call)):
        await app.owner.click(find_button(call, "No offer"), call)
    return app.fake.last(OWNER_ID).text or ""


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_safe_on_customer_data_is_refused_for_those_it_touches(app: App) -> None:
    await _three(app)
    before = await app.counts()
    answer = await _check(app, 'Hi {{ name }}{% if balance > 0 %}{{ "<b>"|safe }}{% endif %}')
    assert "fails for 2 of 3 customers" in answer, answer
    assert "Send" not in str(buttons(app.fake.last(OWNER_ID)))
    answer = await _check(app, "Hi {{ name|safe }}")
    assert "fails for 3 of 3 customers" in answer, answer
    assert await app.counts() == before


BAD_TEXTS = [
    "Hi {{ balance / 0 }}",
    "Hi {{ range(200000)|list|length }}",
    "{% macro m(n) %}{{ m(n) }}{% endmacro %}Hi {{ m(1) }}",
    "Hi {{ 'x' * 200000000 }}",
    "Hi {% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}",
    "Hi {{ name|center(1000000000) }}",
    "{% autoescape false %}{{ name }}{% endautoescape %}",
]


@pytest.mark.parametrize("body", BAD_TEXTS)
async def test_a_text_that_raises_or_runs_away_gets_the_report(app: App, body: str) -> None:
    await _three(app)
    before = await app.counts()
    started = time.monotonic()
    answer = await _check(app, body)
    elapsed = time.monotonic() - started
    assert "Sorry" not in answer, answer
    assert "fails for 3 of 3 customers" in answer or "cannot be used" in answer, answer
    assert elapsed < 5, elapsed
    assert await app.counts() == before


def test_telegram_html_is_checked_as_telegram_parses_it() -> None:
    assert telegram_html.problem("Hi <b>Ann</b> &amp; co") is None
    assert "never closed" in (telegram_html.problem("Hi <b>Ann") or "")
    assert "unsupported" in (telegram_html.problem("<div>x</div>") or "")
    assert "empty" in (telegram_html.problem("  <b> </b> ") or "")
    assert "too long" in (telegram_html.problem("x" * 4097) or "")
    assert telegram_html.problem("x" * 4096) is None
    assert "href" in (telegram_html.problem('<a href="javascript:x">y</a>') or "")
