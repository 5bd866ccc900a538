"""`loyalty-bot rules simulate|publish FILE`: a rules file replayed against the last year
of purchases beside the rules in force, or published as a new version
(``bot.services.rules``; docs/rules.md). The operator's English, as the other commands."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from bot.cli import ConfigOption, _fail, _settings, _with_business, app

if TYPE_CHECKING:
    from bot.services.context import Business
    from bot.services.rules.simulate import Simulation

ACTIONS = ("simulate", "publish")
ActionArgument = typer.Argument(..., help="simulate | publish")
SourceArgument = typer.Argument(..., help="the rules file (TOML)")


@app.command("rules")
def rules_command(
    action: str = ActionArgument,
    source: Path = SourceArgument,
    config: Path = ConfigOption,
) -> None:
    """Replay the last 12 months of purchases under a rules file beside today's rules
    (simulate; writes nothing), or publish the file as a new version of the rules."""
    from bot.services.errors import ServiceError
    from bot.services.rules.model import parse_rules
    from bot.services.rules.publish import publish_text
    from bot.services.rules.simulate import simulate

    if action not in ACTIONS:
        _fail(f"rules {action!r}: use {' or '.join(ACTIONS)}")
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        _fail(f"cannot read {source}: {err}")
        return
    settings = _settings(config)

    async def work(biz: Business) -> list[str]:
        try:
            if action == "simulate":
                return simulation_lines(await simulate(biz, parse_rules(text, settings)))
            done = await publish_text(biz, text)
        except ServiceError as err:
            _fail(biz.texts.console("en", f"errors.{err.code}", **err.params))
            raise
        starts = done.starts_at.astimezone(settings.business.zone).strftime("%Y-%m-%d %H:%M")
        told = f"; {done.told} customers told of the change" if done.takes_away else ""
        return [f"published version {done.version_id}, in force from {starts}{told}"]

    for line in _with_business(settings, work):
        typer.echo(line)


def simulation_lines(result: Simulation) -> list[str]:
    """The two columns, then the customers whose tier would change."""
    rows = [
        ("points issued", lambda f: f"{f.issued:,}"),
        ("expected redemptions", lambda f: f"{f.expected_redeemed:,}"),
        ("points liability", lambda f: f"{f.liability:,.2f}"),
        ("cost, share of revenue", lambda f: f"{f.cost_share * 100:.2f} %"),
    ]
    lines = [
        f"last 12 months: {result.purchases} purchases, revenue {result.revenue:,.2f}, "
        f"{result.redemption_rate * 100:.1f} % of given points redeemed",
        f"{'':<24}{'today':>16}{'proposed':>16}",
    ]
    lines += [f"{name:<24}{show(result.today):>16}{show(result.proposed):>16}"
              for name, show in rows]  # fmt: skip
    changes = [f"  {card}: {now} -> {then}" for card, now, then in result.tier_changes]
    lines.append("customers changing tier: " + (str(len(changes)) if changes else "none"))
    return lines + changes


