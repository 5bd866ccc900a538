"""The owner's /export: every customer as CSV and XLSX documents, with a progress message
edited as the rows are read (at most once per PROGRESS_EVERY seconds)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from time import monotonic

from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import CommandObject
from aiogram.types import BufferedInputFile, Message

from bot import spreadsheet
from bot.background import BackgroundTasks
from bot.services.context import Business
from bot.services.members.customer_export import customer_table
from bot.services.people.audit import audit_view
from bot.services.people.roles import Actor
from handlers.replies import text

log = logging.getLogger(__name__)

# What /export's argument asks for: nothing means both files.
FORMATS_BY_ARGUMENT: dict[str, tuple[str, ...]] = {
    "": spreadsheet.FORMATS,
    **{fmt: (fmt,) for fmt in spreadsheet.FORMATS},
}
PROGRESS_EVERY = 2.0  # seconds between edits of the progress message (Telegram's limits)


class Throttle:
    """True at most once per ``seconds`` (the first call always)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._last: float | None = None

    def ready(self) -> bool:
        now = monotonic()
        if self._last is not None and now - self._last < self.seconds:
            return False
        self._last = now
        return True


async def on_export(
    message: Message,
    command: CommandObject,
    biz: Business,
    actor: Actor,
    key: str,
    background: BackgroundTasks,
) -> None:
    formats = FORMATS_BY_ARGUMENT.get((command.args or "").strip().casefold())
    if formats is None:
        await message.answer(text(biz, actor, "errors.usage_export"))
        return
    await audit_view(biz, actor, "export", key, formats=list(formats))
    status = await message.answer(text(biz, actor, "owner.export_started"))
    throttle = Throttle(PROGRESS_EVERY)

    async def report(done: int, total: int) -> None:
        if not throttle.ready():
            return
        with contextlib.suppress(TelegramBadRequest):  # "message is not modified"
            await status.edit_text(
                text(biz, actor, "owner.export_progress", done=done, total=total)
            )

    async def work() -> None:
        at = biz.clock.now()
        try:
            table = await customer_table(biz, report)
            files = [
                (fmt, await asyncio.to_thread(spreadsheet.write, table, fmt)) for fmt in formats
            ]
        except Exception:
            log.exception("export failed")
            await message.answer(text(biz, actor, "owner.export_failed"))
            return
        stamp = at.astimezone(biz.settings.business.zone)
        caption = text(biz, actor, "owner.export_caption", customers=len(table.rows), at=at)
        for fmt, data in files:
            name = f"customers-{stamp:%Y%m%d-%H%M}.{fmt}"
            await message.answer_document(BufferedInputFile(data, filename=name), caption=caption)

    background.start(work(), name=f"export-{actor.tg_id}")
