"""What staff and owners ask the services to do, as typed requests.

The services own these types; the chat grammar (``handlers.commands``) builds them from
what was typed, and other callers (tests, imports, the demo) build them directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class PurchaseRequest:
    customer: str
    amount: Decimal
    service_tag: str | None
    receipt_no: str | None
    offer_code: str | None = None  # ``offer:<code>`` typed with it (bot.services.money.offers)


@dataclass(frozen=True)
class VisitRequest:
    customer: str
    service_tag: str | None
    km: int | None = None  # the odometer reading reported at the visit


@dataclass(frozen=True)
class RedeemRequest:
    customer: str
    points: int
    purchase_amount: Decimal | None
    reward_code: str | None = None  # a reward of the catalogue: its price is the points


@dataclass(frozen=True)
class RefundRequest:
    purchase_id: int
    amount: Decimal | None


@dataclass(frozen=True)
class AdjustRequest:
    customer: str
    points: int
    reason: str


@dataclass(frozen=True)
class AddCustomerRequest:
    phone: str
    name: str | None


@dataclass(frozen=True)
class NoteRequest:
    customer: str
    text: str
