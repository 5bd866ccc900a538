"""``loyalty-bot preview JOB --customer <card code>``: what a customer would get today,
rendered in their language, and nothing written (issue 11, Texts the owner can change)."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from typer.testing import CliRunner

from bot.cli import app as cli
from bot.clock import FrozenClock
from bot.db.engine import create_database
from bot.db.migrate import upgrade
from bot.db.models import Outlet
from bot.jobs import DAILY_JOBS
from bot.scheduler import build_scheduler
from bot.services.jobs.preview import preview
from tests.conftest import make_settings
from tests.support.harness import App
from tests.support.job_rows import member, service

VESTA = {"make": "LADA", "model": "Vesta", "year": 2020}
OIL = {"tag": "oil", "days": 180, "service": {"ru": "замену масла", "en": "an oil change"},
       "offer": {"kind": "percent", "value": "15"}}  # fmt: skip


async def test_preview_renders_and_writes_nothing(app: App) -> None:
    settings = make_settings(app.biz.settings.database.url, reminders={"rules": [OIL]})
    biz = app.variant(settings).biz
    now = app.clock.now()
    ivan = await member(app.biz.db, 1, now, language="ru", name="Иван", profile=VESTA,
                        birthday=date(1990, 1, 20))  # fmt: skip
    await service(app.biz.db, ivan.id, "oil", now - timedelta(days=180))
    before = await app.counts(include_audit=True)
    [shown] = await preview(biz, "reminders", ivan.card_code)
    assert (shown.selected, shown.verdict) == (True, "ok")
    assert shown.text is not None and shown.text.startswith(
        "Уважаемый Иван, специально для владельцев LADA Vesta 2020 года – скидка 15% на "
        "замену масла до конца месяца!"
    )
    [birthday] = await preview(biz, "birthday", ivan.card_code)
    assert birthday.selected is False and birthday.text is not None  # the 20th, not today
    assert "с днём рождения" in birthday.text
    [holiday] = await preview(biz, "holidays", ivan.card_code)
    assert holiday.text is None  # 15 January is no holiday
    assert await app.counts(include_audit=True) == before


def test_preview_command(tmp_path: Path) -> None:
    db = tmp_path / "loyalty.db"
    url = f"sqlite+aiosqlite:///{db}"
    config = tmp_path / "config.toml"
    config.write_text(
        f'[business]\nname = "Garage"\nkind = "car_service"\ndefault_language = "en"\n'
        f'[database]\nurl = "{url}"\n',
        encoding="utf-8",
    )
    upgrade(url)
    now = datetime.now(UTC)

    async def rows() -> None:
        database = create_database(url)
        try:
            async with database.write() as session:
                session.add(Outlet(code="main", name="Main"))
            ivan = await member(database, 1, now, name="Ivan", profile=VESTA)
            await service(database, ivan.id, "oil", now - timedelta(days=181))
        finally:
            await database.dispose()

    asyncio.run(rows())
    result = CliRunner().invoke(cli, ["preview", "reminders", "--customer", "J00001",
                                      "-c", str(config)])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "reminders: selected today; contact: ok" in result.output
    assert "Dear Ivan, especially for owners of a 2020 LADA Vesta: 15% off an oil change" in (
        result.output
    )
    unknown = CliRunner().invoke(cli, ["preview", "spam", "--customer", "J00001",
                                       "-c", str(config)])  # fmt: skip
    assert unknown.exit_code == 2 and "unknown job 'spam'" in unknown.output
    nobody = CliRunner().invoke(cli, ["preview", "birthday", "--customer", "ZZZZZZ",
                                      "-c", str(config)])  # fmt: skip
    assert nobody.exit_code == 2 and "customer_not_found" in nobody.output


async def test_every_job_is_scheduled_at_its_configured_local_time(app: App) -> None:
    settings = make_settings(
        app.biz.settings.database.url,
        birthday={"run_at": "09:15"},
        holidays={"run_at": "10:05"},
        reminders={"run_at": "10:45"},
        tradein={"run_at": "11:10"},
        winback={"run_at": "11:40"},
    )
    scheduler = build_scheduler(app.variant(settings).biz, DAILY_JOBS)
    noon = datetime(2026, 1, 15, 3, 0, tzinfo=UTC)  # 06:00 in Moscow
    fires = {
        job: scheduler.get_job(job).trigger.get_next_fire_time(None, noon).astimezone(UTC)
        for job in ("birthday", "holidays", "reminders", "tradein", "winback")
    }
    assert fires == {
        "birthday": datetime(2026, 1, 15, 6, 15, tzinfo=UTC),
        "holidays": datetime(2026, 1, 15, 7, 5, tzinfo=UTC),
        "reminders": datetime(2026, 1, 15, 7, 45, tzinfo=UTC),
        "tradein": datetime(2026, 1, 15, 8, 10, tzinfo=UTC),
        "winback": datetime(2026, 1, 15, 8, 40, tzinfo=UTC),
    }
    assert isinstance(app.clock, FrozenClock)
