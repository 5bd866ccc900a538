"""Earn rules as data (bot.services.rules): the file's refusals, the combination order on
hand-computed figures, and a refused file writing nothing through the CLI."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app as cli_app
from bot.config import Settings
from bot.services.errors import ServiceError
from bot.services.rules.earn import EarnTerms, terms_for
from bot.services.rules.model import parse_rules
from tests.conftest import make_settings

HEAD = 'starts = 2026-04-01\n'


@pytest.fixture
def settings() -> Settings:
    return make_settings("sqlite+aiosqlite:///unused.db")


def _rule(**fields: object) -> str:
    lines = ["[[rule]]"]
    for key, value in fields.items():
        if isinstance(value, str) and not re.fullmatch(r"\d{4}-\d\d-\d\d(T[\d:]+)?", value):
            lines.append(f'{key} = "{value}"')
        elif isinstance(value, list):
            lines.append(f"{key} = {value!r}".replace("'", '"'))
        else:
            lines.append(f"{key} = {value}")
    return "\n".join(lines) + "\n"


def _refused(settings: Settings, text: str) -> str:
    with pytest.raises(ServiceError) as caught:
        parse_rules(text, settings)
    return caught.value.code


MULTIPLIER = {"name": "tyres-april", "kind": "multiplier", "factor": 2, "tags": ["tyres"],
              "starts": "2026-04-01", "ends": "2026-04-30"}  # fmt: skip
PROMOTION = {"name": "tuesday", "kind": "promotion", "factor": 2, "weekdays": ["tue"],
             "hours": "16:00-18:00"}  # fmt: skip


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({**MULTIPLIER, "tags": ["caviar"]}, "rules_unknown_tag"),
        ({**MULTIPLIER, "outlets": ["moon"]}, "rules_unknown_outlet"),
        ({**MULTIPLIER, "factor": 0}, "rules_bad_factor"),
        ({**MULTIPLIER, "factor": 1}, "rules_bad_factor"),
        ({**MULTIPLIER, "factor": 1000}, "rules_bad_factor"),
        ({**MULTIPLIER, "factor": -2}, "rules_bad_factor"),
        ({"name": "p", "kind": "punch", "tags": ["wash"], "every": 1, "reward": "free"},
         "rules_bad_every"),
        ({"name": "p", "kind": "punch", "every": 6, "reward": "free"}, "rules_punch_needs_tag"),
        ({"name": "p", "kind": "punch", "tags": ["wash"], "every": 6, "reward": "points"},
         "rules_bad_reward"),
        ({"name": "b", "kind": "bonus", "points": 0}, "rules_bad_points"),
        ({"name": "b", "kind": "bonus", "points": 10**9}, "rules_bad_points"),
        ({**PROMOTION, "hours": "4pm"}, "rules_unreadable"),
        ({"name": "x", "kind": "promotion", "factor": 2}, "rules_unlimited_promotion"),
        ({**PROMOTION, "weekdays": ["funday"]}, "rules_bad_weekday"),
        ({**PROMOTION, "hours": "18:00-16:00"}, "rules_bad_window"),
        ({**MULTIPLIER, "ends": "2026-03-01"}, "rules_bad_window"),
        ({**MULTIPLIER, "kind": "jackpot"}, "rules_unreadable"),
        ({**MULTIPLIER, "colour": "red"}, "rules_unreadable"),
        ({**MULTIPLIER, "name": "<b>" * 20}, "rules_unreadable"),
    ],
)
def test_a_bad_rule_is_refused_with_its_reason(
    settings: Settings, fields: dict[str, object], code: str
) -> None:
    fields = {k: v for k, v in fields.items() if v is not None}
    assert _refused(settings, HEAD + _rule(**fields)) == code


def test_a_file_that_is_not_toml_or_names_a_strange_tier_is_refused(settings: Settings) -> None:
    assert _refused(settings, "starts = = 1") == "rules_unreadable"
    assert _refused(settings, HEAD + "[percents]\nplatinum = 3\n") == "rules_unknown_tier"
    assert _refused(settings, HEAD + "[percents]\nsilver = 300\n") == "rules_bad_percent"
    assert _refused(settings, HEAD + _rule(**MULTIPLIER) * 2) == "rules_duplicate_name"


def test_two_of_a_kind_that_could_meet_are_refused_and_apart_they_are_not(
    settings: Settings,
) -> None:
    """The combination order says how kinds combine, not how two multipliers would: two
    promotions on Tuesday evenings (one 17-19) are refused; one on Tuesdays and one on
    Wednesdays, or multipliers on different tags, are not."""
    other = {**PROMOTION, "name": "late", "hours": "17:00-19:00"}
    assert _refused(settings, HEAD + _rule(**PROMOTION) + _rule(**other)) == "rules_overlap"
    apart = {**other, "weekdays": ["wed"]}
    parse_rules(HEAD + _rule(**PROMOTION) + _rule(**apart), settings)
    oil = {**MULTIPLIER, "name": "oil", "tags": ["oil"]}
    parse_rules(HEAD + _rule(**MULTIPLIER) + _rule(**oil), settings)
    all_tags = {**MULTIPLIER, "name": "all", "tags": []}
    assert _refused(settings, HEAD + _rule(**MULTIPLIER) + _rule(**all_tags)) == "rules_overlap"
    may = {**MULTIPLIER, "name": "may", "starts": "2026-05-01", "ends": "2026-05-31"}
    parse_rules(HEAD + _rule(**MULTIPLIER) + _rule(**may), settings)
    # two bonuses add up: defined by the order, so allowed
    bonus = {"name": "b1", "kind": "bonus", "points": 10}
    parse_rules(HEAD + _rule(**bonus) + _rule(**{**bonus, "name": "b2"}), settings)


def test_the_combination_order_on_hand_computed_figures(settings: Settings) -> None:
    """1 000 of tyres on Tuesday 7 April 2026 at 17:00, Silver (7 %): 70 × 2 (April's
    tyres) × 2 (Tuesday 16-18) = 280 in one EARN entry; the 50-point bonus is not
    multiplied; at 18:00 the promotion is over (140); in May the multiplier is (70)."""
    text = HEAD + _rule(**MULTIPLIER) + _rule(**PROMOTION) + _rule(
        name="visit", kind="bonus", points=50, tags=["tyres"]
    )
    rules = parse_rules(text, settings)

    def terms(moment: datetime, tag: str | None = "tyres") -> EarnTerms:
        return terms_for(1, rules, tag, "main", moment)

    at_five = terms(datetime(2026, 4, 7, 17, 0))
    assert at_five.rate_points(settings, "silver", Decimal("1000")) == 280
    assert at_five.credited(settings, "silver", Decimal("1000")) == 330
    assert terms(datetime(2026, 4, 7, 18, 0)).rate_points(settings, "silver", Decimal(1000)) == 140
    assert terms(datetime(2026, 5, 5, 17, 0)).rate_points(settings, "silver", Decimal(1000)) == 140
    assert terms(datetime(2026, 5, 6, 17, 0)).rate_points(settings, "silver", Decimal(1000)) == 70
    untagged = terms(datetime(2026, 4, 7, 17, 0), tag=None)
    assert untagged.credited(settings, "silver", Decimal("1000")) == 140  # promotion only
    assert EarnTerms().rate_points(settings, None, Decimal("999")) == 49  # 5 %, down


def test_a_punch_card_rewards_every_nth_and_reads_n_of_m(settings: Settings) -> None:
    text = HEAD + _rule(name="wash6", kind="punch", tags=["wash"], every=6, reward="free")
    terms = terms_for(1, parse_rules(text, settings), "wash", "main", datetime(2026, 4, 2))
    assert terms.rewards(settings, Decimal("800"), punched=3) == []
    state = terms.punch_state(3)
    assert state is not None and (state.at, state.every) == (4, 6)
    sixth = terms.rewards(settings, Decimal("800"), punched=5)
    assert [(r.rule, r.points) for r in sixth] == [("wash6", 800)]  # free: its price in points
    assert terms.punch_state(5).at == 6  # type: ignore[union-attr]
    assert terms.punch_state(6).at == 1  # type: ignore[union-attr]


def test_a_refused_file_writes_nothing_through_the_cli(tmp_path: Path) -> None:
    """``loyalty-bot rules publish`` with a multiplier of 1 000: one line, exit 2, and the
    database holds no version."""
    import sqlite3

    from bot.db.migrate import upgrade

    db = tmp_path / "cli.db"
    upgrade(f"sqlite+aiosqlite:///{db}")
    config = tmp_path / "config.toml"
    config.write_text(
        f'[business]\nname = "Garage"\n[loyalty]\nservice_tags = ["tyres"]\n'
        f'[database]\nurl = "sqlite+aiosqlite:///{db}"\n',
        encoding="utf-8",
    )
    bad = tmp_path / "rules.toml"
    bad.write_text(HEAD.replace("2026", "2099") + _rule(**{**MULTIPLIER, "factor": 1000}))
    result = CliRunner().invoke(cli_app, ["rules", "publish", str(bad), "-c", str(config)])
    assert result.exit_code == 2, result.output
    assert "a multiplier must be above 1" in result.output
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM rule_versions").fetchone() == (0,)
