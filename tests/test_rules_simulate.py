"""``loyalty-bot rules simulate``'s figures on a hand-computed year, and the purchase path
with three active rules still at the lean path's statement count."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bot.cli_rules import simulation_lines
from bot.services.rules.model import parse_rules
from bot.services.rules.publish import publish_text
from bot.services.rules.simulate import simulate
from bot.testing.telegram_double import buttons, find_button
from tests.conftest import BACKENDS
from tests.support.flows import hire, join
from tests.support.harness import App
from tests.test_lean_purchase import MAX_STATEMENTS, statements

pytestmark = pytest.mark.parametrize("backend", BACKENDS, indirect=True)

CASHIER, CUSTOMER = 6001, 5001
PROPOSED = """starts = 2026-02-01
[[rule]]
name = "tyres-x2"
kind = "multiplier"
factor = 2
tags = ["tyres"]
[[rule]]
name = "oil-visit"
kind = "bonus"
points = 10
tags = ["oil"]
"""


async def test_the_simulation_beside_today_on_hand_computed_figures(app: App) -> None:
    """Tyres 1 000, oil 1 000, wash 2 000 at Base 5 %: 200 points given, 100 redeemed (a
    rate of 0.5). Today: 200 issued, 100 expected back, a liability of 100.00, 2.5 % of
    the 4 000 revenue. Proposed (tyres ×2, +10 an oil visit): 100 + 60 + 100 = 260
    issued, 130 expected back, 130.00, 3.25 %. Nothing is written."""
    user = app.user(CUSTOMER, "en")
    customer = await join(app, user)
    cashier = app.user(CASHIER, "en")
    await hire(app, cashier)
    for amount, tag in ((1000, "tyres"), (1000, "oil"), (2000, "wash")):
        await cashier.send(f"/purchase {customer.card_code} {amount} {tag}")
    await cashier.send(f"/redeem {customer.card_code} 100")
    await app.deliver()
    prompt = next(c for c in reversed(app.fake.sent(CUSTOMER))
                  if any("Confirm" in label for label, _ in buttons(c)))  # fmt: skip
    await user.click(find_button(prompt, "Confirm"), prompt)
    before = await app.counts()

    result = await simulate(app.biz, parse_rules(PROPOSED, app.biz.settings))
    assert (result.purchases, result.revenue, result.redemption_rate) == (3, 4000, Decimal("0.5"))
    today, then = result.today, result.proposed
    assert (today.issued, today.expected_redeemed, today.liability) == (200, 100, 100)
    assert (then.issued, then.expected_redeemed, then.liability) == (260, 130, 130)
    assert (today.cost_share, then.cost_share) == (Decimal("0.025"), Decimal("0.0325"))
    lines = simulation_lines(result)
    assert any(line.split()[:2] == ["points", "issued"] and line.split()[-2:] == ["200", "260"]
               for line in lines)  # fmt: skip
    assert lines[-1] == "customers changing tier: none"
    assert await app.counts() == before


async def test_three_active_rules_keep_the_purchase_at_eight_statements(app: App) -> None:
    """A multiplier, a promotion and a fixed bonus all covering the purchase: the first
    statement credits them with the tier's percent, so the purchase costs what it did."""
    customer = await join(app, app.user(CUSTOMER, "en"))
    cashier = app.user(CASHIER, "en")
    await hire(app, cashier)
    await publish_text(app.biz, PROPOSED.replace("2026-02-01", "2026-01-15") + """[[rule]]
name = "all-x1-5"
kind = "promotion"
factor = 1.5
ends = 2026-12-31
[[rule]]
name = "tyres-visit"
kind = "bonus"
points = 20
tags = ["tyres"]
""")
    await cashier.send(f"/purchase {customer.card_code} 100 tyres")  # warm
    with statements(app.biz.db) as sent:
        await cashier.send(f"/purchase {customer.card_code} 2000 tyres")
    # 2 000 × 5 % = 100, × 2 × 1.5 = 300, + 20
    assert "+320 points" in app.fake.last(CASHIER).text
    assert len(sent) <= MAX_STATEMENTS, "\n".join(sent)
    assert await app.balance_consistent()
