"""No shipped salt (issue 19, item 2): the hashes kept after /forget (an imported phone's
opening key, a forgotten Telegram id) are keyed with a secret written at the first start,
a public salt is refused at start-up with one line, and ``loyalty-bot rekey`` re-keys a
database keyed with the old default."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from bot import spreadsheet
from bot.app import StartupError, check_salt
from bot.cli import _settings
from bot.cli import app as cli
from bot.config import Settings, load_settings, salt
from bot.db.models import Base, LedgerEntry, LedgerKind
from bot.services.members.customer_import import opening_key_under, run_import
from bot.services.members.identity import keyed_hash
from bot.testing.telegram_double import find_button
from tests.conftest import BACKENDS, make_settings
from tests.support.flows import join
from tests.support.harness import App

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = "loyalty-bot"  # the salt earlier versions shipped in code and config.example.toml
PHONE, OTHER = "+79161234567", "+79161234568"
BASE = f"phone,name,balance\n{PHONE},Anna,300\n{OTHER},Boris,100\n"


def _first_start_salt(tmp_path: Path) -> str:
    """The salt a fresh install runs with: config.example.toml as `make run` copies it,
    then the first `loyalty-bot` command."""
    config = tmp_path / "config.toml"
    shutil.copy(ROOT / "config.example.toml", config)
    return _settings(config).privacy.id_hash_salt


@pytest.fixture
def settings(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.delenv(salt.ENV_NAME, raising=False)
    return make_settings(db_url, privacy={"id_hash_salt": _first_start_salt(tmp_path)})


async def _every_stored_value(app: App) -> set[str]:
    values: set[str] = set()
    async with app.biz.db.read() as session:
        for table in Base.metadata.sorted_tables:
            for row in (await session.execute(select(table))).all():
                values.update(str(v) for v in row if v is not None)
    return values


async def _forget(app: App, user_id: int) -> None:
    user = app.user(user_id, "en")
    await user.send("/forget")
    confirm = app.fake.last(user_id)
    await user.click(find_button(confirm, "Yes, erase"), confirm)


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_after_forget_nothing_stored_is_keyed_with_the_shipped_salt(app: App) -> None:
    await run_import(app.biz, spreadsheet.read(BASE.encode(), "csv"), apply=True)
    await join(app, app.user(5001, "en"), name="Anna", phone=PHONE)
    await _forget(app, 5001)
    stored = await _every_stored_value(app)
    public = {keyed_hash(SHIPPED, PHONE), keyed_hash(SHIPPED, "5001")}
    assert not {v for v in stored if any(h in v for h in public)}
    # the keys still do their job under the secret: the old file brings nobody back
    again = await run_import(app.biz, spreadsheet.read(BASE.encode(), "csv"), apply=True)
    assert (again.created, again.unchanged) == (0, 2)
    assert await app.customer(phone=PHONE) is None


def _config(tmp_path: Path, salt_line: str | None) -> Path:
    db = tmp_path / "loyalty.db"
    config = tmp_path / "config.toml"
    privacy = f"[privacy]\n{salt_line}\n" if salt_line is not None else ""
    config.write_text(
        f'[business]\nname = "Garage"\n[database]\nurl = "sqlite+aiosqlite:///{db}"\n{privacy}',
        encoding="utf-8",
    )
    config.chmod(0o600)
    return config


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != salt.ENV_NAME}


def test_start_up_refuses_the_shipped_default_with_one_line(tmp_path: Path) -> None:
    config = _config(tmp_path, f'id_hash_salt = "{SHIPPED}"')
    runner = CliRunner()
    env = {**_env(), "BOT_TOKEN": "123:ABC"}
    import_args = ["import", str(tmp_path / "a.csv"), "-c", str(config)]
    for args in (["run", "-c", str(config)], import_args):
        result = runner.invoke(cli, args, env=env)
        assert result.exit_code == 2, result.output
        [line] = result.output.strip().splitlines()
        assert "loyalty-bot rekey" in line and "Traceback" not in line


def test_first_start_writes_a_random_salt_into_the_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(salt.ENV_NAME, raising=False)
    salts = []
    for n in (1, 2):
        folder = tmp_path / str(n)
        folder.mkdir()
        config = _config(folder, None)
        salts.append(_settings(config).privacy.id_hash_salt)
        assert load_settings(config, use_env=False).privacy.id_hash_salt == salts[-1]
        assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert salts[0] != salts[1] and len(salts[0]) >= 32
    assert not salt.is_public(salts[0])
    # from the environment: the file is left alone
    config = _config(tmp_path, None)
    monkeypatch.setenv(salt.ENV_NAME, "from-the-environment-0123456789abcdef")
    assert _settings(config).privacy.id_hash_salt == "from-the-environment-0123456789abcdef"
    assert "id_hash_salt" not in config.read_text()


async def _keys(app: App) -> dict[int, str]:
    async with app.biz.db.read() as session:
        rows = await session.execute(
            select(LedgerEntry.customer_id, LedgerEntry.idempotency_key).where(
                LedgerEntry.kind == LedgerKind.IMPORT
            )
        )
        return dict(rows.all())


@pytest.fixture
def legacy(db_url: str) -> Settings:
    return make_settings(db_url, privacy={"id_hash_salt": SHIPPED})


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_rekey_a_database_keyed_with_the_old_default(
    legacy: Settings, database: Any, clock: Any, tmp_path: Path
) -> None:
    """Upgraded from a version that shipped the salt: start-up refuses the database until
    `loyalty-bot rekey`; live customers' keys are re-keyed, an erased one's is reported and
    dropped on request."""
    app = await App.start(legacy, database, clock)
    try:
        await run_import(app.biz, spreadsheet.read(BASE.encode(), "csv"), apply=True)
        anna = await join(app, app.user(5001, "en"), name="Anna", phone=PHONE)
        boris = await join(app, app.user(5002, "en"), name="Boris", phone=OTHER)
        await _forget(app, 5002)
        secret = salt.new_salt()
        upgraded = app.variant(make_settings(legacy.database.url, privacy={"id_hash_salt": secret}))
        with pytest.raises(StartupError, match="loyalty-bot rekey"):
            await check_salt(upgraded.biz)  # a secret salt, but the data is keyed with the old

        from bot.services.members.rekey import rekey

        done = await rekey(upgraded.biz, SHIPPED, secret)
        assert (done.opening_keys, done.left) == (1, 1)
        keys = await _keys(app)
        assert keys[anna.id] == opening_key_under(secret, PHONE)
        assert keys[boris.id] == opening_key_under(SHIPPED, OTHER)  # erased: unknowable
        await check_salt(upgraded.biz)  # starts now
        # the erased customer's old key still keeps the old file from bringing them back
        again = await run_import(upgraded.biz, spreadsheet.read(BASE.encode(), "csv"), apply=True)
        assert (again.created, again.unchanged) == (0, 2)

        dropped = await rekey(upgraded.biz, SHIPPED, secret, drop=True)
        # Boris's opening key, and his forgotten Telegram id and phone
        assert (dropped.left, dropped.dropped) == (0, 3)
        stored = await _every_stored_value(app)
        assert not {v for v in stored if keyed_hash(SHIPPED, OTHER) in v}
        assert not {v for v in stored if keyed_hash(SHIPPED, "5002") in v}
        # the trade-off: the old file would now bring the erased customer back
        dry = await run_import(upgraded.biz, spreadsheet.read(BASE.encode(), "csv"), apply=False)
        assert (dry.created, dry.unchanged) == (1, 1)
    finally:
        await app.close()


def test_rekey_command_replaces_the_public_salt_in_the_config(tmp_path: Path) -> None:
    from bot.db.migrate import upgrade

    config = _config(tmp_path, f'id_hash_salt = "{SHIPPED}"')
    upgrade(f"sqlite+aiosqlite:///{tmp_path / 'loyalty.db'}")
    result = CliRunner().invoke(cli, ["rekey", "-c", str(config)], env=_env())
    assert result.exit_code == 0, result.output
    assert "re-keyed 0 opening balances" in result.output
    written = load_settings(config, use_env=False).privacy.id_hash_salt
    assert not salt.is_public(written)
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
