"""The hot paths' unit of work on prebuilt Core statements (no ORM session).

A purchase and a redemption's confirmation run here (SPEC.md: the design card keeps
SQLAlchemy; the ORM stays where it is not hot). ``Books`` holds what one write
transaction changes: the customers' rows it read (``Account``: row-locked on PostgreSQL by
the statement that read them, an UPDATE or ``SELECT … FOR UPDATE``; SQLite's write
transactions take turns, see ``bot.db.engine``), and the ledger entries, outbox rows and
audit rows it adds. The rules stay in their homes: entries from ``ledger.entry_row``, notices from
``notify.customer_notice`` (through ``queue``), audit rows from ``audit.act_row``, tiers from
``tiers.retier``. ``flush`` writes it all with one statement per table (an executemany),
so a purchase costs the same few statements whatever it triggers.

Synchronous, on the transaction's Core ``Connection``: the whole transaction is one call
(``Database.run_write``; on SQLite it runs on the writer thread).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Integer, Select, bindparam, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from bot.config import Settings
from bot.db.models import AuditEntry, Customer, LedgerEntry, OutboxMessage, Purchase
from bot.services.context import Business
from bot.services.errors import ServiceError
from bot.services.money.ledger import entry_row
from bot.services.money.tiers import Standing, standing_columns, standing_of, window_start
from bot.services.people.audit import act_row
from bot.services.people.roles import Actor


@dataclass
class Account:
    """A customer's row as a balance change needs it (what ``ACCOUNT_COLUMNS`` select)."""

    id: int
    card_code: str
    name: str | None
    telegram_id: int | None
    language: str
    balance: int
    tier: str | None
    tier_since: datetime | None
    below_tier_since: datetime | None
    referred_by: int | None
    referral_rewarded_at: datetime | None
    erased_at: datetime | None
    marketing_opt_in: bool  # contact.reach and the survey's opt-in read these two
    unreachable_at: datetime | None


_ACCOUNT_FIELDS = tuple(f.name for f in fields(Account))
ACCOUNT_COLUMNS = tuple(getattr(Customer, name) for name in _ACCOUNT_FIELDS)
# What a transaction may change on an account; written back by ``flush``.
_WRITTEN = ("balance", "tier", "tier_since", "below_tier_since", "referral_rewarded_at")


def account_of(row: Any) -> Account:
    """The ``Account`` of a row that selected ``ACCOUNT_COLUMNS`` (first, in order)."""
    return Account(*row[: len(_ACCOUNT_FIELDS)])


_LOCK = (
    select(*ACCOUNT_COLUMNS)
    .where(Customer.id == bindparam("customer_id"))
    .with_for_update(of=Customer)
)
_WRITE_BACK = (
    update(Customer)
    .where(Customer.id == bindparam("w_id"))
    .values({name: bindparam(f"w_{name}") for name in _WRITTEN})
)
_INSERT_LEDGER = insert(LedgerEntry)
_INSERT_OUTBOX = insert(OutboxMessage)
_INSERT_AUDIT = insert(AuditEntry)
# A receipt number is unique per outlet: the constraint decides, and a repeated one
# inserts nothing (no savepoint needed; a concurrent twin waits for the first to commit).
_RECEIPT = ("outlet_code", "receipt_no")
_INSERT_PURCHASE = {
    "sqlite": sqlite.insert(Purchase)
    .on_conflict_do_nothing(index_elements=_RECEIPT)
    .returning(Purchase.id),
    "postgresql": postgresql.insert(Purchase)
    .on_conflict_do_nothing(index_elements=_RECEIPT)
    .returning(Purchase.id),
}
_PURCHASE_COLUMNS = tuple(c for c in Purchase.__table__.columns if not c.primary_key)
_BOOKED_WITH_STANDING: dict[str | None, Select[Any]] = {}


def _booked_with_standing(settings: Settings) -> Select[Any]:
    """PostgreSQL: the purchase inserted in a CTE, and the customer's tier standing read
    by the same statement, so after the first statement's row lock (a new snapshot: what
    a concurrent purchase committed meanwhile is seen) at no extra round trip. The
    standing does not include the purchase itself (one statement, one snapshot)."""
    stmt = _BOOKED_WITH_STANDING.get(settings.tiers.preset)
    if stmt is None:
        booked = (
            postgresql.insert(Purchase)
            .values({c.key: bindparam(f"p_{c.key}", type_=c.type) for c in _PURCHASE_COLUMNS})
            .on_conflict_do_nothing(index_elements=_RECEIPT)
            .returning(Purchase.id)
            .cte("booked")
        )
        owner = bindparam("customer_id", type_=Integer)
        stmt = _BOOKED_WITH_STANDING[settings.tiers.preset] = select(
            booked.c.id, *standing_columns(settings, owner)
        ).select_from(booked)
    return stmt


_REPEATED_RECEIPT = select(Purchase.id).where(
    Purchase.outlet_code == bindparam("outlet_code"),
    Purchase.receipt_no == bindparam("receipt_no"),
)


class Books:
    """One write transaction's changes, written by ``flush`` before it commits."""

    def __init__(self, conn: Connection, biz: Business, now: datetime) -> None:
        self.conn = conn
        self.biz = biz
        self.now = now
        self.accounts: dict[int, Account] = {}
        self._stored: dict[int, dict[str, Any]] = {}  # what the database holds now
        self.ledger: list[dict[str, Any]] = []
        self.outbox: list[dict[str, Any]] = []
        self.audit: list[dict[str, Any]] = []

    def hold(self, account: Account, stored_balance: int | None = None) -> Account:
        """Write ``account`` back at ``flush`` if it changed (it was read locked, in this
        transaction); ``stored_balance``: the database's balance when the statement that
        read it already credited points (a purchase's earn, see ``purchases``)."""
        if account.id not in self.accounts:
            self.accounts[account.id] = account
            stored = {name: getattr(account, name) for name in _WRITTEN}
            if stored_balance is not None:
                stored["balance"] = stored_balance
            self._stored[account.id] = stored
        return account

    def lock(self, customer_id: int) -> Account:
        """Another customer's account, locked (a referrer's, on a first purchase)."""
        held = self.accounts.get(customer_id)
        if held is not None:
            return held
        row = self.conn.execute(_LOCK, {"customer_id": customer_id}).first()
        if row is None:
            raise ServiceError("customer_not_found", token=str(customer_id))
        return self.hold(account_of(row))

    def post(self, account: Account, **entry: Any) -> None:
        """A ledger entry (``ledger.entry_row``'s arguments) and the balance it moves."""
        self.ledger.append(entry_row(account, now=self.now, **entry))

    def queue(self, row: dict[str, Any] | None) -> None:
        """An outbox row (``outbox.outbox_row``, ``notify.customer_notice``, ``tiers.retier``);
        None queues nothing (a notice for a customer not in the bot)."""
        if row is not None:
            self.outbox.append(row)

    def act(self, actor: Actor, action: str, key: str, customer_id: int, **details: Any) -> None:
        self.audit.append(act_row(actor, action, key, self.now, customer_id, **details))

    def insert_purchase(
        self, row: dict[str, Any], with_standing: bool = False
    ) -> tuple[int, Standing | None]:
        """The purchase's id and, ``with_standing`` (PostgreSQL only), the customer's tier
        standing without it; refused when its receipt number was used at the outlet."""
        if with_standing:
            settings = self.biz.settings
            params = {f"p_{key}": value for key, value in row.items()}
            params |= {
                "customer_id": row["customer_id"],
                "since": window_start(settings, self.now),
            }
            found = self.conn.execute(_booked_with_standing(settings), params).first()
            if found is not None:
                return int(found.id), standing_of(found)
        else:
            stmt = _INSERT_PURCHASE[self.conn.dialect.name]
            purchase_id = self.conn.execute(stmt, row).scalar()
            if purchase_id is not None:
                return int(purchase_id), None
        repeated = self.conn.scalar(
            _REPEATED_RECEIPT, {"outlet_code": row["outlet_code"], "receipt_no": row["receipt_no"]}
        )
        raise ServiceError("receipt_repeated", receipt=row["receipt_no"], purchase_id=repeated)

    def flush(self) -> None:
        """The accounts that changed, ledger entries, outbox rows and audit rows: at most a
        statement each."""
        changed = [
            {"w_id": a.id} | {f"w_{name}": getattr(a, name) for name in _WRITTEN}
            for a in self.accounts.values()
            if any(getattr(a, name) != self._stored[a.id][name] for name in _WRITTEN)
        ]
        if changed:
            self.conn.execute(_WRITE_BACK, changed)
        for stmt, rows in (
            (_INSERT_LEDGER, self.ledger),
            (_INSERT_OUTBOX, self.outbox),
            (_INSERT_AUDIT, self.audit),
        ):
            if rows:
                self.conn.execute(stmt, rows)
