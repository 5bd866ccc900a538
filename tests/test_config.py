"""Configuration: a bad config fails at start with the key and the reason (no traceback);
secrets come from the environment; the example config is valid and documents every key."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from bot.config import ConfigError, Settings, load_settings, settings_from_dict
from tests.conftest import base_config

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "config.example.toml"


def test_example_config_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BOT_TOKEN", raising=False)
    settings = load_settings(EXAMPLE)
    assert settings.business.outlets[0].code == "main"
    assert settings.bot_token is None


def test_example_documents_every_key() -> None:
    """Every field of every section appears in config.example.toml with a comment above it."""
    text = EXAMPLE.read_text(encoding="utf-8")
    for section, field in Settings.model_fields.items():
        if section != "bot_token":
            _check_section(text, section, field.annotation)


def _check_section(text: str, section: str, model: type) -> None:
    assert f"[{section}]" in text, section
    block = text.split(f"[{section}]", 1)[1].split("\n[", 1)[0]
    for key, field in model.model_fields.items():  # type: ignore[attr-defined]
        if isinstance(field.annotation, type) and hasattr(field.annotation, "model_fields"):
            _check_section(text, f"{section}.{key}", field.annotation)
            continue
        match = re.search(rf"(?m)^(# ?)?{key} =", block)
        assert match, f"{section}.{key} missing from config.example.toml"
        preceding = block[: match.start()].rstrip().splitlines()[-1]
        assert preceding.startswith("#"), f"{section}.{key} has no comment"


BAD = [
    ({"business": {"timezone": "Mars/Olympus"}}, "business.timezone", "unknown time zone"),
    ({"loyalty": {"earn_percent": "-1"}}, "loyalty.earn_percent", "greater than or equal"),
    ({"loyalty": {"point_value": "0"}}, "loyalty.point_value", "greater than 0"),
    ({"loyalty": {"service_tags": ["oil change"]}}, "loyalty.service_tags", "one word"),
    ({"loyalty": {"nonsense": 1}}, "loyalty.nonsense", "Extra inputs"),
    ({"database": {"url": "mysql://x"}}, "database.url", "sqlite+aiosqlite"),
    ({"telegram": {"api_server": "ftp://x"}}, "telegram.api_server", "http"),
    ({"business": {"outlets": []}}, "business.outlets", "at least one outlet"),
]


@pytest.mark.parametrize(("override", "key", "reason"), BAD)
def test_bad_values_name_key_and_reason(override: dict, key: str, reason: str) -> None:
    with pytest.raises(ConfigError) as err:
        settings_from_dict(base_config("sqlite+aiosqlite:///x.db", **override), use_env=False)
    assert key in str(err.value) and reason in str(err.value)


def test_secrets_come_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_TOKEN", "42:SECRET")
    monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://app:pw@db/loyalty")
    settings = settings_from_dict(base_config("sqlite+aiosqlite:///x.db"))
    assert settings.bot_token == "42:SECRET"
    assert settings.database.url == "postgresql+asyncpg://app:pw@db/loyalty"
    assert "SECRET" not in repr(settings)


def test_broken_toml_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[business\nname = 1", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(path)
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "missing.toml")


def _cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _write_config(tmp_path: Path, **override: dict) -> Path:
    config = base_config(f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}", **override)
    lines = []
    for section, values in config.items():
        lines.append(f"[{section}]")
        for key, value in values.items():
            lines.append(f"{key} = {_toml(value)}")
    path = tmp_path / "config.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    tomllib.loads(path.read_text(encoding="utf-8"))
    return path


def _toml(value: object) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + "}"
    return str(value).lower() if isinstance(value, bool) else str(value)


def _clean_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k not in {"BOT_TOKEN", "DATABASE_URL"}}


def test_run_without_token_says_where_to_put_it(tmp_path: Path) -> None:
    config = _write_config(tmp_path)
    result = _cli("run", "-c", str(config), cwd=ROOT, env=_clean_env())
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert "BOT_TOKEN" in result.stderr and "Traceback" not in result.stderr


def test_run_with_bad_config_names_the_key(tmp_path: Path) -> None:
    config = _write_config(tmp_path, loyalty={"earn_percent": "500"})
    result = _cli("run", "-c", str(config), cwd=ROOT, env=_clean_env())
    assert result.returncode == 2
    assert "loyalty.earn_percent" in result.stderr and "Traceback" not in result.stderr


def test_run_refuses_unmigrated_database(tmp_path: Path) -> None:
    config = _write_config(tmp_path, telegram={"api_server": "http://127.0.0.1:9"})
    env = {**_clean_env(), "BOT_TOKEN": "123:ABC"}
    result = _cli("run", "-c", str(config), cwd=ROOT, env=env)
    assert result.returncode == 2, result.stderr
    assert "loyalty-bot migrate" in result.stderr and "Traceback" not in result.stderr
    migrated = _cli("migrate", "-c", str(config), cwd=ROOT, env=env)
    assert migrated.returncode == 0, migrated.stderr
    scored = _cli("score", "-c", str(config), cwd=ROOT, env=env)
    assert scored.returncode == 0, scored.stderr
    assert "scored 0 customers" in scored.stdout


def test_custom_rating_scale_validated_at_start() -> None:
    bad = {
        "rating_scale": "custom",
        "custom_rating_scale": {
            "name": "x",
            "criteria": [
                {"key": "shoe_size", "title": "?", "unit": "", "edges": [40.0], "points": [0, 1]}
            ],
            "categories": [{"key": "a", "title": "A", "min_score": 0, "benefits": []}],
        },
    }
    with pytest.raises(ConfigError, match=r"scoring.*unknown criteria \['shoe_size'\]"):
        settings_from_dict(base_config("sqlite+aiosqlite:///x.db", scoring=bad), use_env=False)
    with pytest.raises(ConfigError, match="needs a"):
        settings_from_dict(
            base_config("sqlite+aiosqlite:///x.db", scoring={"rating_scale": "custom"}),
            use_env=False,
        )


@pytest.mark.parametrize(
    ("extra_env", "args", "expected"),
    [
        ({}, ("--log-level", "LOUD"), "--log-level 'LOUD': use DEBUG, INFO"),
        ({"LOYALTY_BUSINES__NAME": "x"}, (), "did you mean LOYALTY_BUSINESS__NAME?"),
        ({"LOYALTY_LOYALTY__EARN_PERCEN": "5"}, (), "did you mean LOYALTY_LOYALTY__EARN_PERCENT?"),
    ],
)
def test_start_up_problems_are_one_line(
    tmp_path: Path, extra_env: dict[str, str], args: tuple[str, ...], expected: str
) -> None:
    config = _write_config(tmp_path)
    env = {**_clean_env(), "BOT_TOKEN": "123:ABC", **extra_env}
    result = _cli("run", "-c", str(config), *args, cwd=ROOT, env=env)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert expected in result.stderr


async def test_unreachable_bot_api_or_wrong_token_refuse_to_start(tmp_path: Path) -> None:
    """One getMe before anything: an unreachable server or a token Telegram refuses is a
    one-line refusal to start (the process would otherwise retry for ever)."""
    from bot.app import StartupError, build_bot, check_bot_api
    from bot.testing.telegram_double import BotAPIServer

    unreachable = settings_from_dict(
        base_config("sqlite+aiosqlite:///x.db", telegram={"api_server": "http://127.0.0.1:9"})
        | {"bot_token": "123:SECRET"},
        use_env=False,
    )
    bot = build_bot(unreachable)
    with pytest.raises(
        StartupError, match=r"cannot reach the Bot API at http://127\.0\.0\.1:9"
    ) as err:
        await check_bot_api(bot, unreachable)
    assert "SECRET" not in str(err.value)
    await bot.session.close()
    async with BotAPIServer() as server:
        wrong = settings_from_dict(
            base_config("sqlite+aiosqlite:///x.db", telegram={"api_server": server.url})
            | {"bot_token": "999:NOT-THE-TOKEN"},
            use_env=False,
        )
        bot = build_bot(wrong)
        with pytest.raises(StartupError, match="401 Unauthorized"):
            await check_bot_api(bot, wrong)
        await bot.session.close()


@pytest.mark.parametrize(
    ("kind", "language", "tags", "questions"),
    [
        ("car_service", "ru", ("масло", "шины", "диагностика", "мойка"),
         ["make", "model", "year", "mileage"]),
        ("cafe", "en", ("coffee", "pastry", "lunch"), []),
        ("barbershop", "ru", ("стрижка", "борода", "укладка"), ["barber"]),
    ],
)  # fmt: skip
def test_one_key_chooses_a_kind_of_business(
    kind: str, language: str, tags: tuple[str, ...], questions: list[str]
) -> None:
    data = base_config(
        "sqlite+aiosqlite:///x.db", business={"kind": kind, "default_language": language}
    )
    data["loyalty"].pop("service_tags")
    settings = settings_from_dict(data, use_env=False)
    assert settings.loyalty.service_tags == tags
    assert [f.code for f in settings.profile.fields] == questions
    own = base_config("sqlite+aiosqlite:///x.db", business={"kind": kind},
                      loyalty={"service_tags": ["mine"]})  # fmt: skip
    assert settings_from_dict(own, use_env=False).loyalty.service_tags == ("mine",)


def test_example_ships_the_car_service_preset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BOT_TOKEN", raising=False)
    settings = load_settings(EXAMPLE)
    assert settings.business.kind == "car_service"
    assert "масло" in settings.loyalty.service_tags
    assert [f.code for f in settings.profile.fields][:2] == ["make", "model"]


def test_an_embedded_install_needs_neither_postgresql_nor_redis(tmp_path: Path) -> None:
    """asyncpg and redis are extras (``postgres``, ``redis``): the core requirements leave
    them out, and a bot on SQLite with conversation state in memory never imports them."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    core = " ".join(project["dependencies"])
    assert "asyncpg" not in core and "redis" not in core
    assert (
        project["optional-dependencies"]["postgres"] and project["optional-dependencies"]["redis"]
    )
    script = (
        "import sys, bot.app, bot.cli, bot.web\n"
        "from bot.config import settings_from_dict\n"
        "from tests.conftest import base_config\n"
        f"url = 'sqlite+aiosqlite:///{tmp_path}/e.db'\n"
        "s = settings_from_dict(base_config(url), use_env=False)\n"
        "bot.app.build_dispatcher(bot.app.build_business(s), bot.app.build_storage(s))\n"
        "print(sorted(m for m in ('redis', 'asyncpg') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
