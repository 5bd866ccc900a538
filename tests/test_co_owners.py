"""Owners (issue 20, item 7): a second owner joins through an owner's one-time link
(`/invite owner`); `loyalty-bot owner-code` no longer prints a code the bot would refuse;
`/language` and `/settings` answer every role, not only customers."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiogram.types import BotCommandScopeChat
from typer.testing import CliRunner

from bot.cli import app as cli
from bot.db.migrate import upgrade
from bot.services.people import owners
from bot.testing.telegram_double import buttons
from tests.conftest import BACKENDS
from tests.support.flows import hire
from tests.support.harness import OWNER_ID, App

PARTNER, CASHIER = 7101, 7102


def _link(app: App) -> str:
    return app.fake.last(OWNER_ID).text.split("?start=")[1].split()[0]


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_an_owner_invites_a_co_owner_with_a_one_time_link(app: App) -> None:
    """The owner: /invite owner → a link; the partner opens it and is an owner (menu,
    /kpi); the owner hears it; the link opens nothing a second time."""
    partner, stranger = app.user(PARTNER, "en", "Pavel"), app.user(7103, "en")
    await app.owner.send("/invite owner")
    assert "co-owner" in app.fake.last(OWNER_ID).text
    token = _link(app)

    await partner.send(f"/start {token}")
    assert "You are now a co-owner of <b>Test Garage</b>" in app.fake.last(PARTNER).text
    assert "/invite" in app.fake.last(PARTNER).text  # the owner's next steps
    assert await owners.owner_ids(app.biz) == {OWNER_ID, PARTNER}
    menu = await app.bot.get_my_commands(scope=BotCommandScopeChat(chat_id=PARTNER))
    assert "rescore" in [c.command for c in menu]
    await partner.send("/kpi")
    assert "not available" not in app.fake.last(PARTNER).text
    await app.deliver()
    # the owner never chose a language: the business default (ru) tells them
    assert "Pavel принял(а) приглашение и теперь совладелец" in app.fake.last(OWNER_ID).text

    before = await app.counts()
    await stranger.send(f"/start {token}")
    assert "already been used" in app.fake.last(7103).text
    assert await app.counts() == before
    await stranger.send("/kpi")
    assert "not available" in app.fake.last(7103).text


async def test_a_co_owner_can_invite_the_next_one_and_staff_cannot(app: App) -> None:
    cashier = app.user(CASHIER, "en", "Olga")
    await hire(app, cashier)
    before = await app.counts()
    await cashier.send("/invite owner")
    assert "not available" in app.fake.last(CASHIER).text
    await app.owner.send("/invite admin")  # neither staff nor owner: the usage, no link
    assert "/invite owner" in app.fake.last(OWNER_ID).text
    assert "?start=" not in app.fake.last(OWNER_ID).text
    assert await app.counts() == before

    await app.owner.send("/invite owner")
    await cashier.send(f"/start {_link(app)}")  # a cashier promoted to co-owner
    assert "co-owner" in app.fake.last(CASHIER).text
    await cashier.send("/invite owner")
    assert "co-owner" in app.fake.last(CASHIER).text and "?start=" in app.fake.last(CASHIER).text


async def test_an_owner_opening_a_co_owner_link_is_told_and_nothing_changes(app: App) -> None:
    await app.owner.send("/invite owner")
    token = _link(app)
    before = await app.counts()
    await app.owner.send(f"/start {token}")
    assert "already an owner" in app.fake.last(OWNER_ID).text
    assert await app.counts() == before


def test_owner_code_once_an_owner_exists_says_what_to_do(tmp_path: Path) -> None:
    """«`loyalty-bot owner-code` still prints a code the bot then refuses»: with an owner
    in config it prints no code, one line pointing to /invite owner."""
    db = tmp_path / "loyalty.db"
    config = tmp_path / "config.toml"
    config.write_text(
        f'[business]\nname = "Garage"\nowner_ids = [{OWNER_ID}]\n'
        f'[database]\nurl = "sqlite+aiosqlite:///{db}"\n',
        encoding="utf-8",
    )
    upgrade(f"sqlite+aiosqlite:///{db}")
    result = CliRunner().invoke(cli, ["owner-code", "-c", str(config)])
    assert result.exit_code != 0
    assert "own_" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert "/invite owner" in result.output


async def test_language_and_settings_answer_owners_and_staff(app: App) -> None:
    """«the owner's /language answers „Вы ещё не участвуете в программе“»: the owner and a
    cashier (no customer card) choose their language and see their settings."""
    cashier = app.user(CASHIER, "en", "Olga")
    await hire(app, cashier)
    for user in (app.owner, cashier):
        await user.send("/settings")
        settings = app.fake.last(user.user_id).text
        assert "Language: English" in settings and "/language" in settings
        await user.send("/language")
        choice = app.fake.last(user.user_id)
        russian = next(data for label, data in buttons(choice) if "Рус" in label)
        await user.click(russian, choice)
        assert "по-русски" in app.fake.last(user.user_id).text
        await user.send("/help")
        assert "Команды сотрудника" in app.fake.last(user.user_id).text
        await user.send("/settings")
        assert "Язык: русский" in app.fake.last(user.user_id).text
    assert await app.customer(telegram_id=OWNER_ID) is None, "no card was made for them"


async def test_language_for_a_stranger_still_asks_to_join(app: App) -> None:
    stranger = app.user(7104, "en")
    before = await app.counts()
    await stranger.send("/settings")
    assert "Language:" not in app.fake.last(7104).text
    assert await app.counts() == before
