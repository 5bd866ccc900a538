"""The treatment table (issue 21, item 1): strategy x value decide which jobs and
broadcasts reach a customer and how large the gift is, in every job, the broadcast
wizard's filter and ``loyalty-bot preview``.

Seed 000: «Ценность клиента (низкая, средняя, высокая)» -> «Минимизировать затраты на
обслуживание» / «Стандартизированное обслуживание» / «Удерживать клиента и улучшать его
обслуживание». Seed 001: «Вознаграждать и вкладывать», «"Освобождать" Отказ от клиентов,
которые не составляют никакого интереса предприятию».
"""

from __future__ import annotations

from datetime import date

import pytest
from pydantic import ValidationError

import scoring
from bot.config.jobs import STRATEGY_ROWS, TreatmentSettings
from bot.db.models import LedgerKind, OfferKind
from bot.services.campaigns import audience
from bot.services.jobs import greetings as jobs_greetings
from bot.services.jobs import winback as jobs_winback
from bot.services.jobs.preview import preview
from tests.conftest import BACKENDS, make_settings
from tests.support.harness import App
from tests.support.job_rows import ledger_of, member, members, offers_of, outbox, score

WINBACK = {"interval_factor": 2.0, "min_purchases": 2, "min_days": 45, "window_days": 90}
DRIFTING = {"purchases": 5, "days_since_first": 320, "days_since_last": 120}


def variant(app: App, **sections: object) -> App:
    sections.setdefault("campaigns", {"holdout_percent": 0})
    return app.variant(make_settings(app.biz.settings.database.url, **sections))  # type: ignore[arg-type]


def test_rows_are_the_sources_strategies() -> None:
    """One row per seed 001 per-customer strategy (the config cannot import scoring)."""
    assert set(STRATEGY_ROWS) == set(scoring.STRATEGIES)


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_winback_offer_follows_strategy_and_value(app: App) -> None:
    """Issue 21: the win-back gave the same 10 % to a low-value «Освобождать» customer as to
    a high-value «Вознаграждать и вкладывать» one. Now: reward and invest, high value ->
    15 % (150 %); manage, medium -> 10 %; release -> nothing written at all; collect,
    low -> 10 % x 50 % x 50 % = 2.5 %."""
    jobs = variant(app, winback=WINBACK)
    now, db = app.clock.now(), app.biz.db
    cells = {
        "best": ("reward_and_invest", "high"),
        "usual": ("manage", "medium"),
        "worst": ("release", "low"),
        "collect": ("collect", "low"),
    }
    people = {}
    for n, (name, (strategy, value)) in enumerate(cells.items(), start=1):
        people[name] = await member(db, n, now, name=name)
        await score(db, people[name].id, now, strategy=strategy, value=value, **DRIFTING)
    report = await jobs_winback.run_winback(jobs.biz)
    assert report == {"candidates": 4, "sent": 3, "treatment": 1}
    given = {}
    for name, person in people.items():
        found = await offers_of(db, person.id)
        given[name] = [(o.kind, float(o.value)) for o in found]
    assert given == {
        "best": [(OfferKind.PERCENT, 15.0)],
        "usual": [(OfferKind.PERCENT, 10.0)],
        "worst": [],
        "collect": [(OfferKind.PERCENT, 2.5)],
    }
    assert await outbox(db, people["worst"].id) == []
    assert people["worst"].id not in {m.customer_id for m in await members(db)}


async def test_birthday_gift_scaled_released_greeted_without_gift(app: App) -> None:
    """Seed 004: «Персональные поздравления с небольшими подарками или скидками»; the
    released are still greeted (seed 001 drops them from long-term marketing, not from
    courtesy) but «Минимизировать затраты на обслуживание»: no gift. Reward and invest,
    high value: 300 x 150 % = 450 points; not scored yet: the configured 300."""
    jobs = variant(app, birthday={"gift": "points", "points": 300})
    now, db = app.clock.now(), app.biz.db  # 15 Jan
    best = await member(db, 1, now, birthday=date(1990, 1, 15))
    await score(db, best.id, now, strategy="reward_and_invest", value="high")
    worst = await member(db, 2, now, birthday=date(1991, 1, 15))
    await score(db, worst.id, now, strategy="release", value="low")
    new = await member(db, 3, now, birthday=date(1992, 1, 15))
    assert await jobs_greetings.run_birthdays(jobs.biz) == {"candidates": 3, "sent": 3}
    points = {
        p.id: [(e.kind, e.points) for e in await ledger_of(db, p.id)] for p in (best, worst, new)
    }
    assert points == {
        best.id: [(LedgerKind.BONUS, 450)],
        worst.id: [],
        new.id: [(LedgerKind.BONUS, 300)],
    }
    [greeting] = await outbox(db, worst.id)
    assert greeting.kind == "birthday"


async def test_preview_shows_the_cell(app: App) -> None:
    """``loyalty-bot preview`` shows what the table decides, and writes nothing."""
    jobs = variant(app, winback=WINBACK)
    now, db = app.clock.now(), app.biz.db
    worst = await member(db, 1, now)
    await score(db, worst.id, now, strategy="release", value="low", **DRIFTING)
    best = await member(db, 2, now)
    await score(db, best.id, now, strategy="reward_and_invest", value="high", **DRIFTING)
    [shown] = await preview(jobs.biz, "winback", worst.card_code)
    assert shown.treatment is not None and not shown.treatment.allowed and shown.text is None
    [shown] = await preview(jobs.biz, "winback", best.card_code)
    assert shown.treatment is not None and shown.treatment.gift_percent == 150
    assert shown.text is not None and "15% off" in shown.text
    assert await members(db) == [] and await offers_of(db, best.id) == []


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_broadcast_filter_keeps_whom_the_table_lets_broadcasts_reach(app: App) -> None:
    """The wizard's ``treatment`` filter: by default everyone but the released (and the
    not yet scored follow the ``none`` row, which allows broadcasts)."""
    now, db = app.clock.now(), app.biz.db
    for n, strategy in enumerate(("reward_and_invest", "manage", "collect", "release"), 1):
        person = await member(db, n, now)
        await score(db, person.id, now, strategy=strategy)
    await member(db, 9, now)  # not scored
    assert "treatment" in audience.FLAGS
    everyone = await audience.count(app.biz, {})
    assert await audience.count(app.biz, {"treatment": True}) == everyone - 1
    strict = variant(app, treatment={"none": {"reach": ["birthday"]}})
    assert await audience.count(strict.biz, {"treatment": True}) == everyone - 2
    with pytest.raises(audience.AudienceError):
        audience.validate(app.biz.settings, {"treatment": "yes"})


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"release": {"gift_percent": -1}}, "gift_percent"),
        ({"manage": {"reach": ["spam"]}}, "reach"),
        ({"pamper": {"gift_percent": 100}}, "pamper"),
        ({"value_gift_percent": {"low": 900}}, "value_gift_percent"),
        ({"value_gift_percent": {"huge": 10}}, "huge"),
    ],
)
def test_bad_table_refused_naming_the_key(table: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        TreatmentSettings.model_validate(table)
