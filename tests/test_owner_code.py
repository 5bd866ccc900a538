"""Becoming the owner without editing files (issue 10, owner onboarding): with no owner in
config the bot issues a one-time code; whoever sends it becomes an owner, once."""

from __future__ import annotations

import hashlib
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
from aiogram.types import BotCommandScopeChat
from sqlalchemy import select
from typer.testing import CliRunner

from bot.cli import app as cli
from bot.config import Settings
from bot.db.migrate import upgrade
from bot.db.models import Owner
from bot.services.people import owners
from tests.conftest import BACKENDS, make_settings
from tests.support.flows import join
from tests.support.harness import App

FIRST, SECOND = 7001, 7002


@pytest.fixture
def settings(db_url: str) -> Settings:
    return make_settings(db_url, business={"owner_ids": []})


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_the_code_makes_its_sender_the_owner_once(app: App) -> None:
    code = await owners.code_if_ownerless(app.biz)
    assert code is not None
    async with app.biz.db.read() as session:
        stored = list(await session.scalars(select(Owner.code_hash)))
    assert stored and code not in stored[0], "only a hash of the code is kept"

    first, second = app.user(FIRST, "en"), app.user(SECOND, "en")
    await first.send("/kpi")
    assert "not available" in app.fake.last(FIRST).text
    before = await app.counts()
    await first.send("/start own_not-the-code")
    assert "not valid" in app.fake.last(FIRST).text
    assert await app.counts() == before

    await first.send(f"/start own_{code}")
    assert "You are now the owner" in app.fake.last(FIRST).text
    assert "/invite" in app.fake.last(FIRST).text
    await first.send("/kpi")
    assert "not available" not in app.fake.last(FIRST).text
    menu = await app.bot.get_my_commands(scope=BotCommandScopeChat(chat_id=FIRST))
    assert "rescore" in [c.command for c in menu]

    await second.send(f"/start own_{code}")  # used: nobody else becomes owner with it
    assert "not valid" in app.fake.last(SECOND).text
    await second.send("/kpi")
    assert "not available" in app.fake.last(SECOND).text
    assert await owners.code_if_ownerless(app.biz) is None, "an owner exists: no new code"
    assert await owners.owner_ids(app.biz) == {FIRST}


async def test_a_new_code_replaces_the_unclaimed_one(app: App) -> None:
    old = await owners.issue_code(app.biz)
    new = await owners.issue_code(app.biz)
    user = app.user(FIRST, "en")
    await user.send(f"/start own_{old}")
    assert "not valid" in app.fake.last(FIRST).text
    await user.send(f"/start own_{new}")
    assert "You are now the owner" in app.fake.last(FIRST).text


def test_owner_code_command_prints_a_working_code(tmp_path: Path) -> None:
    db = tmp_path / "loyalty.db"
    config = tmp_path / "config.toml"
    config.write_text(
        f'[business]\nname = "Garage"\n[database]\nurl = "sqlite+aiosqlite:///{db}"\n',
        encoding="utf-8",
    )
    upgrade(f"sqlite+aiosqlite:///{db}")
    result = CliRunner().invoke(cli, ["owner-code", "-c", str(config)])
    assert result.exit_code == 0, result.output
    code = result.output.split("/start own_")[1].split()[0]
    with sqlite3.connect(db) as conn:
        query = "SELECT code_hash FROM owners WHERE telegram_id IS NULL"
        (stored,) = conn.execute(query).fetchone()
    assert stored == hashlib.sha256(code.encode()).hexdigest()


async def test_the_owners_first_five_minutes(app: App) -> None:
    """Install (no owner in config) → become the owner with the logged code → invite a
    cashier → the cashier joins and the owner hears it → a customer joins → the first
    purchase → the first /client. Read top to bottom, it is the chat."""
    code = await owners.code_if_ownerless(app.biz)  # what `make run` logs at start-up
    owner, olga = app.user(7001, "en", "Irina"), app.user(7002, "en", "Olga")

    await owner.send(f"/start own_{code}")
    assert "You are now the owner" in app.fake.last(7001).text
    assert "/invite" in app.fake.last(7001).text

    await owner.send("/invite")
    link = app.fake.last(7001).text.split("?start=")[1].split()[0]
    await olga.send(f"/start {link}")
    assert "Welcome to the team" in app.fake.last(7002).text
    await app.deliver()
    assert "Olga" in app.fake.last(7001).text  # the owner hears she joined

    anna = await join(app, app.user(7003, "en"), name="Anna")
    await olga.send(f"/purchase {anna.card_code} 1 500")
    assert "Purchase №1 recorded" in app.fake.last(7002).text
    await app.deliver()
    assert "+75 points" in app.fake.last(7003).text

    await owner.send("/client Anna")
    card = app.fake.last(7001).text
    assert "<b>Anna</b>" in card and "1 purchase" in card and "Not scored yet" in card


async def test_a_code_stops_working_once_an_owner_exists_or_its_time_is_up(
    app: App, db_url: str
) -> None:
    stale = await owners.issue_code(app.biz)
    configured = app.variant(make_settings(db_url, business={"owner_ids": [1000]}))
    assert await owners.code_if_ownerless(configured.biz) is None  # the next start-up
    await app.user(FIRST, "en").send(f"/start own_{stale}")
    assert "not valid" in app.fake.last(FIRST).text

    late = await owners.issue_code(app.biz)
    app.clock.advance(timedelta(hours=app.biz.settings.business.owner_code_hours, seconds=1))
    await app.user(SECOND, "en").send(f"/start own_{late}")
    assert "not valid" in app.fake.last(SECOND).text
    assert await owners.owner_ids(app.biz) == set()
