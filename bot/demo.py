"""`loyalty-bot demo`: the whole counter scene offline, through the real dispatcher and a
real (temporary) database, with the recording Bot API double instead of Telegram.

A customer joins, the owner invites a cashier, the cashier logs two purchases, the
customer shows the QR card, checks the balance and pays with points after confirming;
the owner reclassifies the customers and reads the customer's card and the KPIs, then
the segments, sends a broadcast with an offer that reaches the customer, and reads the
campaigns report (``bot/demo_owner.py``). The transcript is what each person would read.
"""

from __future__ import annotations

import asyncio
import html
import re
import tempfile
from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiogram import Dispatcher

from bot.app import build_business, build_dispatcher
from bot.clock import SystemClock
from bot.config import settings_from_dict
from bot.db.engine import create_database
from bot.db.migrate import upgrade
from bot.delivery.sender import OutboxSender
from bot.demo_owner import owner_tools
from bot.services.people.staff import sync_outlets
from bot.testing.telegram_double import Call, ChatUser, FakeTelegram, buttons, recording_bot

OWNER, CASHIER, CUSTOMER = 100, 200, 300
_TAGS = re.compile(r"<[^>]+>")


def _demo_config(db_url: str, lang: str) -> dict[str, Any]:
    return {
        "business": {"name": "Demo Car Service", "owner_ids": [OWNER], "default_language": lang},
        "loyalty": {"service_tags": ["oil", "tyres"], "welcome_bonus": 100},
        "database": {"url": db_url},
        # the scene's broadcast reaches its one customer now, whatever the hour
        "campaigns": {"holdout_percent": 0, "progress_seconds": 0.05},
        "contact": {"quiet_hours": ""},
    }


class Transcript:
    """Turns what the bot sent into lines a person would read."""

    def __init__(self, fake: FakeTelegram, names: dict[int, str]) -> None:
        self.fake = fake
        self.names = names
        self.seen = 0
        self.lines: list[str] = []

    def said(self, who: int, what: str) -> None:
        self.lines.append(f"{self.names[who]} → {what}")

    def flush(self) -> None:
        calls = self.fake.sent()
        for call in calls[self.seen :]:
            self._show(call)
        self.seen = len(calls)

    def _show(self, call: Call) -> None:
        text = html.unescape(_TAGS.sub("", call.text or ""))
        who = self.names.get(call.chat_id or 0, str(call.chat_id))
        body = text.replace("\n", "\n      ")
        photo = _photo_label(call) if call.method == "sendPhoto" else ""
        self.lines.append(f"  bot → {who}: {photo}{body}")
        row = [label for label, _ in buttons(call)]
        keyboard = (call.params.get("reply_markup") or {}).get("keyboard") or []
        row += [b["text"] for line in keyboard for b in line]
        if row:
            self.lines.append("      " + "  ".join(f"[{label}]" for label in row))


def _photo_label(call: Call) -> str:
    """What the picture is: the customer's QR card or a chart (by the uploaded file)."""
    upload = call.params.get("photo")
    name = str(upload.get("filename", "")) if isinstance(upload, dict) else str(upload)
    return "[photo: QR code] " if name.startswith("card-") else "[photo: chart] "


def _card_code(texts: list[str]) -> str:
    """The card code the bot told the customer at sign-up."""
    for text in texts:
        found = re.search(r"<b>([2-9A-Z]{6})</b>", text)
        if found:
            return found.group(1)
    raise RuntimeError("the demo customer was not given a card code")


async def run_demo(lang: str = "ru") -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'demo.db'}"
        await asyncio.to_thread(upgrade, url)
        settings = settings_from_dict(_demo_config(url, lang), use_env=False)
        biz = build_business(settings, db=create_database(url), clock=SystemClock())
        await sync_outlets(biz)
        fake = FakeTelegram()
        bot = recording_bot(fake)
        dp = build_dispatcher(biz)
        people = {OWNER: "Owner", CASHIER: "Olga (cashier)", CUSTOMER: "Anna"}
        stage = _Stage(fake, OutboxSender(biz, bot), Transcript(fake, people), dp)
        users = {
            uid: ChatUser(dp, bot, uid, first_name=name.split()[0], language_code=lang)
            for uid, name in people.items()
        }
        try:
            await _play(stage, users[CUSTOMER], users[CASHIER], users[OWNER])
            await owner_tools(stage, users[OWNER], lang)
        finally:
            await bot.session.close()
            await biz.db.dispose()
        return stage.log.lines


@dataclass
class _Stage:
    """The scene's Bot API double, outbox sender, transcript and dispatcher."""

    fake: FakeTelegram
    sender: OutboxSender
    log: Transcript
    dp: Dispatcher

    async def step(self, who: int, shown: str, action: Awaitable[Any]) -> None:
        """``who`` does ``shown`` (``action``); what the bot sent then joins the transcript."""
        self.log.said(who, shown)
        await action
        await self.sender.drain()
        self.log.flush()


async def _play(stage: _Stage, anna: ChatUser, olga: ChatUser, owner: ChatUser) -> None:
    """The scene, top to bottom: Anna joins, the owner invites Olga, Olga logs purchases
    and a redemption Anna confirms, the owner rescores and reads the card and the KPIs."""
    step, fake = stage.step, stage.fake
    await step(CUSTOMER, "/start", anna.send("/start"))
    consent = fake.last(CUSTOMER)
    await step(CUSTOMER, "(presses the first button)", anna.click(buttons(consent)[0][1], consent))
    await step(CUSTOMER, "(shares her contact)", anna.send_contact("+79161234567"))
    await step(CUSTOMER, "Anna", anna.send("Anna"))
    await step(CUSTOMER, "14.03.1991", anna.send("14.03.1991"))
    offers = fake.last(CUSTOMER)  # the last question: offers and greetings, yes
    await step(CUSTOMER, "(presses the first button)", anna.click(buttons(offers)[0][1], offers))
    await step(OWNER, "/invite", owner.send("/invite"))
    token = fake.last(OWNER).text.split("?start=")[1].split()[0]
    await step(CASHIER, f"/start {token}", olga.send(f"/start {token}"))
    card = _card_code(fake.texts(CUSTOMER))
    await step(CASHIER, f"/purchase {card} 2 400 oil", olga.send(f"/purchase {card} 2 400 oil"))
    await step(CASHIER, f"/purchase {card} 1 150,50", olga.send(f"/purchase {card} 1 150,50"))
    await step(CUSTOMER, "/balance", anna.send("/balance"))
    await step(CASHIER, f"/redeem {card} 150 1000", olga.send(f"/redeem {card} 150 1000"))
    prompt = fake.last(CUSTOMER)
    await step(CUSTOMER, "(presses the first button)", anna.click(buttons(prompt)[0][1], prompt))
    await step(CUSTOMER, "/balance", anna.send("/balance"))
    await step(CUSTOMER, "/card", anna.send("/card"))
    await step(OWNER, "/rescore", owner.send("/rescore"))
    await stage.dp["background"].wait()
    await stage.sender.drain()
    stage.log.flush()
    await step(OWNER, f"/client {card}", owner.send(f"/client {card}"))
    await step(OWNER, "/kpi", owner.send("/kpi"))
