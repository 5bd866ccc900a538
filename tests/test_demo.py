"""`loyalty-bot demo` runs offline through the real dispatcher and database."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.demo import run_demo

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"


def template_keys() -> set[str]:
    """Every ``file.block`` a handler may render: one shown raw is a missing text."""
    keys = set()
    for path in (TEMPLATES / "en").glob("*.html"):
        for block in re.findall(r"{%-? block (\w+)", path.read_text(encoding="utf-8")):
            keys.add(f"{path.stem}.{block}")
    return keys


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
                  "Owner → /kpi", "Owner → /segments", "Owner → /broadcast",
                  "Owner → /campaigns"):  # fmt: skip
        assert shown in transcript, shown
    # the /kpi and /segments charts are charts, not the QR card
    assert transcript.count("[photo: QR code]") == 1
    assert transcript.count("[photo: chart]") == 2


@pytest.mark.parametrize("lang", ["en", "ru"])
async def test_demo_owner_segments_broadcast_reaching_the_customer_and_campaigns(
    lang: str,
) -> None:
    lines = await run_demo(lang)
    transcript = "\n".join(lines)
    segments = transcript.split("Owner → /segments")[1].split("Owner → /broadcast")[0]
    assert {"en": "Need attention: 1", "ru": "Требуют внимания: 1"}[lang] in segments
    sent = transcript.split("Owner → /broadcast")[1].split("Owner → /campaigns")[0]
    greeting = {"en": "Anna, an oil change at a discount", "ru": "Anna, на этой неделе"}[lang]
    offer = {"en": "+200 points with code", "ru": "+200 баллов по коду"}[lang]
    received = [line for line in sent.split("\n  bot → ") if line.startswith(f"Anna: {greeting}")]
    assert len(received) == 1 and offer in received[0] and "PREVIEW" not in received[0]
    done = {"en": "Broadcast #1 finished: delivered 1", "ru": "Рассылка №1 завершена: доставлено 1"}
    assert done[lang] in sent
    report = transcript.split("Owner → /campaigns")[1]
    assert {"en": "#1 Broadcast", "ru": "№1 Рассылка"}[lang] in report
    assert {"en": "Delivered 1", "ru": "Доставлено 1"}[lang] in report
    assert "Traceback" not in transcript and "Error" not in transcript
    raw = [key for key in template_keys() if key in transcript]
    assert raw == [], f"template keys shown raw: {raw}"
    assert "1 messages" not in transcript
