"""The demo's owner tools after the counter scene (``bot/demo.py``): the segments, a
broadcast through the /broadcast wizard's buttons that the outbox delivers to the
customer, and the campaigns report."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.testing.telegram_double import ChatUser, buttons
from handlers.keyboards import BroadcastStep

if TYPE_CHECKING:
    from bot.demo import _Stage

#: The owner's own broadcast text, in the demo's language (plain text with placeholders).
BROADCAST_TEXT = {
    "ru": "{{ name }}, на этой неделе замена масла со скидкой! На вашем счёте {{ balance }}.",
    "en": "{{ name }}, an oil change at a discount this week! You have {{ balance }}.",
}
OFFER_POINTS = "200"


async def _press(stage: _Stage, owner: ChatUser, action: str, shown: str, arg: int = 0) -> None:
    """The owner presses the wizard's button ``action`` on the last message that has it."""
    data = BroadcastStep(action=action, arg=arg).pack()
    call = next(
        c for c in reversed(stage.fake.sent(owner.user_id))
        if any(d == data for _, d in buttons(c))
    )  # fmt: skip
    label = next(label for label, d in buttons(call) if d == data)
    await stage.step(owner.user_id, f"(presses [{label}]{shown})", owner.click(data, call))


async def owner_tools(stage: _Stage, owner: ChatUser, lang: str) -> None:
    """/segments; a broadcast with a points offer, from the first button to the customer
    receiving it and the owner's report; then /campaigns."""
    me = owner.user_id
    await stage.step(me, "/segments", owner.send("/segments"))
    await stage.step(me, "/broadcast", owner.send("/broadcast"))
    await _press(stage, owner, "next", "")
    await _press(stage, owner, "own", "")
    text = BROADCAST_TEXT[lang]
    await stage.step(me, text, owner.send(text))
    await _press(stage, owner, "offer", "", arg=1)
    await stage.step(me, OFFER_POINTS, owner.send(OFFER_POINTS))
    await _press(stage, owner, "days", "", arg=0)
    await _press(stage, owner, "send", "")
    await stage.dp["background"].wait()  # the progress message sees the delivery through
    await stage.sender.drain()
    stage.log.flush()
    await stage.step(me, "/campaigns", owner.send("/campaigns"))
