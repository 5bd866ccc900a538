"""`loyalty-bot demo` runs offline through the real dispatcher and database."""

from __future__ import annotations

import pytest

from bot.demo import run_demo


@pytest.mark.parametrize("lang", ["en", "ru"])
async def test_demo_transcript(lang: str) -> None:
    lines = await run_demo(lang)
    transcript = "\n".join(lines)
    # 100 welcome + 5% of 2400 (120) + 5% of 1150.50 (57) = 277; then 150 points pay for a
    # 1000 purchase, the 850 paid in money earns 42: 277 - 150 + 42 = 169.
    balances = [line for line in lines if line == "Anna → /balance"]
    assert len(balances) == 2
    final = {"en": "Your balance: 169 points", "ru": "На вашем счёте 169 баллов"}[lang]
    first = {"en": "Your balance: 277 points", "ru": "На вашем счёте 277 баллов"}[lang]
    assert first in transcript and final in transcript.split("Anna → /balance")[-1]
    assert "<b>" not in transcript, "the transcript is for people, not HTML"
    for shown in ("Anna → /card", "[photo: QR code]", "Owner → /rescore", "Owner → /client",
                  "Owner → /kpi"):  # fmt: skip
        assert shown in transcript, shown
