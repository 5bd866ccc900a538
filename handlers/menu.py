"""Which commands each role has: the one table that /help's typo hints use (and that a
test checks against the commands the routers really register)."""

from __future__ import annotations

from bot.services.roles import Role
from handlers.staff import STAFF_COMMANDS

CUSTOMER_COMMANDS = (
    "start", "card", "balance", "history", "offers", "language", "settings", "mydata",
    "forget", "help", "cancel",
)  # fmt: skip
STAFF_ONLY_COMMANDS = ("find", *STAFF_COMMANDS)
OWNER_ONLY_COMMANDS = ("adjust", "client", "rescore", "kpi", "invite", "staff")

COMMANDS_BY_ROLE: dict[Role, tuple[str, ...]] = {
    Role.STRANGER: CUSTOMER_COMMANDS,
    Role.CUSTOMER: CUSTOMER_COMMANDS,
    Role.STAFF: CUSTOMER_COMMANDS + STAFF_ONLY_COMMANDS,
    Role.OWNER: CUSTOMER_COMMANDS + STAFF_ONLY_COMMANDS + OWNER_ONLY_COMMANDS,
}
