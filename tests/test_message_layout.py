"""Messages keep their lines (issue 10, "Texts that read right"): a block tag at the end
of a template line no longer swallows the line break after it, so no line of /client,
/kpi or the /card caption runs two labelled items together, in either language."""

from __future__ import annotations

import re

import pytest

from tests.support.flows import hire, join
from tests.support.harness import App

LABEL = re.compile(r"<b>[^<]+</b>:")


@pytest.mark.parametrize("lang", ["en", "ru"])
async def test_client_kpi_and_card_keep_one_item_per_line(app: App, lang: str) -> None:
    anna_chat = app.user(5001, lang)
    anna = await join(app, anna_chat, name="Anna")
    cashier = app.user(6001, lang)
    await hire(app, cashier)
    await cashier.send(f"/purchase {anna.card_code} 1000 oil")
    await cashier.send(f"/purchase {anna.card_code} 500")
    await cashier.send(f"/note {anna.card_code} prefers mornings")
    owner = app.user(1000, lang, "Owner")
    await owner.send("/rescore")
    await app.dp["background"].wait()

    await owner.send(f"/client {anna.card_code}")
    card = app.fake.last(1000).text
    lines = card.split("\n")
    assert all(len(LABEL.findall(line)) <= 1 for line in lines), card
    recent = [line for line in lines if line.lstrip().startswith("№")]
    assert len(recent) == 2 and recent[1].strip().endswith("oil"), card
    assert any("prefers mornings" in line and not LABEL.search(line) for line in lines), card

    await owner.send("/kpi")
    kpi = app.fake.last(1000).text.split("\n")
    check = "Average check" if lang == "en" else "Средний чек"
    assert any(line.startswith(check) for line in kpi), kpi

    await anna_chat.send("/card")
    caption = app.fake.last(5001).text.split("\n")
    assert caption[0].endswith("Anna") and len(caption) >= 2, caption
