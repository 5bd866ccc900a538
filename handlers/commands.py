"""The staff command grammar of SPEC.md ("Rules that need one answer"), as pure parsing.

Every parser takes the argument string after the command and returns a typed request or
raises `CommandError` whose code names a template block in ``errors.html``. Nothing here
touches the database; handlers parse, then call one service. The request types belong
to the services (``bot.services.requests``); this grammar is the chat's way to build them.
"""

from __future__ import annotations

from decimal import Decimal

from bot.config import Settings
from bot.numbers import MAX_DB_ID, is_ascii_number
from bot.services.money.offers import OFFER_TOKEN_PREFIX, looks_like_offer_code, offer_code_in
from bot.services.requests import (
    AddCustomerRequest,
    AdjustRequest,
    NoteRequest,
    PurchaseRequest,
    RedeemRequest,
    RefundRequest,
    VisitRequest,
)
from handlers.amounts import AmountError, parse_amount, parse_points

RECEIPT_PREFIXES = ("#", "№")
MAX_RECEIPT_LENGTH = 32
MAX_NOTE_LENGTH = 1000
MAX_REASON_LENGTH = 200
MAX_TOKEN_LENGTH = 32
MAX_FIND_QUERY = 2 * MAX_TOKEN_LENGTH  # /find and /client: a name of a few words


class CommandError(ValueError):
    def __init__(self, code: str, **params: object) -> None:
        super().__init__(code)
        self.code = code
        self.params = params


def _tokens(args: str | None) -> list[str]:
    return (args or "").split()


def _customer_token(token: str) -> str:
    if len(token) > MAX_TOKEN_LENGTH or not token.lstrip("+").isalnum():
        raise CommandError("bad_customer_token", token=token[:MAX_TOKEN_LENGTH])
    return token


def _amount(text: str, settings: Settings) -> Decimal:
    try:
        return parse_amount(text, settings.loyalty.max_purchase_amount)
    except AmountError as err:
        raise CommandError(
            f"amount_{err.problem.value}",
            text=text[:40],
            maximum=settings.loyalty.max_purchase_amount,
        ) from None


def _points(text: str, *, signed: bool, maximum: int) -> int:
    try:
        return parse_points(text, signed=signed, maximum=maximum)
    except AmountError as err:
        raise CommandError(f"points_{err.problem.value}", text=text[:40], maximum=maximum) from None


def _split_receipt(tokens: list[str]) -> tuple[list[str], str | None]:
    if tokens and tokens[-1].startswith(RECEIPT_PREFIXES):
        receipt = tokens[-1][1:].upper()  # uppercasing can lengthen it: check after
        if (
            not receipt
            or len(receipt) > MAX_RECEIPT_LENGTH
            or not receipt.replace("-", "").isalnum()
        ):
            raise CommandError("bad_receipt", text=tokens[-1][:40])
        return tokens[:-1], receipt
    return tokens, None


class UnknownServiceTag(CommandError):
    """A purchase whose last word is not a configured service tag: refused with the tags
    (and a button each); ``head`` and ``tail`` are the command's other tokens, so a picked
    tag completes the same command."""

    def __init__(self, word: str, tags: tuple[str, ...], head: str, tail: str) -> None:
        super().__init__("unknown_purchase_tag", tag=word[:40], tags=tags)
        self.head = head
        self.tail = tail


def _is_word(token: str) -> bool:
    return any(char.isalpha() for char in token)


def _split_tag(tokens: list[str], settings: Settings) -> tuple[list[str], str | None]:
    if len(tokens) > 1 and settings.is_service_tag(tokens[-1]):
        return tokens[:-1], tokens[-1].casefold()
    return tokens, None


def _split_offer(tokens: list[str]) -> tuple[list[str], str | None]:
    """``offer:<code>`` anywhere after the customer: the offer to use (one at most)."""
    named = [i for i, token in enumerate(tokens) if i and offer_code_in(token) is not None]
    if not named:
        return tokens, None
    if len(named) > 1:
        raise CommandError("offer_twice")
    index = named[0]
    code = offer_code_in(tokens[index]) or ""
    if not looks_like_offer_code(code):
        raise CommandError("bad_offer_code", text=tokens[index][:40])
    return tokens[:index] + tokens[index + 1 :], code


def parse_purchase(args: str | None, settings: Settings) -> PurchaseRequest:
    """``<customer> <amount> [service tag] [#receipt] [offer:<code>]``; the tokens between
    are the amount; the offer token may stand anywhere after the customer."""
    tokens, offer = _split_offer(_tokens(args))
    tokens, receipt = _split_receipt(tokens)
    tags = settings.loyalty.service_tags
    if len(tokens) < 2:
        raise CommandError("usage_purchase", tags=tags)
    tokens, tag = _split_tag(tokens, settings)
    if len(tokens) < 2:
        raise CommandError("usage_purchase", tags=tags)
    if tag is None and len(tokens) > 2 and _is_word(tokens[-1]):
        _amount(" ".join(tokens[1:-1]), settings)  # a malformed amount is said first
        _customer_token(tokens[0])
        after = ([f"#{receipt}"] if receipt else []) + (
            [f"{OFFER_TOKEN_PREFIX}{offer}"] if offer else []
        )
        raise UnknownServiceTag(tokens[-1], tags, " ".join(tokens[:-1]), " ".join(after))
    return PurchaseRequest(
        customer=_customer_token(tokens[0]),
        amount=_amount(" ".join(tokens[1:]), settings),
        service_tag=tag,
        receipt_no=receipt,
        offer_code=offer,
    )


MILEAGE_PREFIX = "km:"  # /visit K7M2QX масло km:85000


def _mileage(token: str, settings: Settings) -> int:
    digits = token[len(MILEAGE_PREFIX) :]
    maximum = settings.reminders.max_km
    if not is_ascii_number(digits) or len(digits) > len(str(maximum)) or int(digits) > maximum:
        raise CommandError("bad_mileage", text=token[:40], maximum=maximum)
    return int(digits)


def parse_visit(args: str | None, settings: Settings) -> VisitRequest:
    """``<customer> [service tag] [km:<reading>]``."""
    tokens = _tokens(args)
    km = None
    if len(tokens) >= 2 and tokens[-1].casefold().startswith(MILEAGE_PREFIX):
        km = _mileage(tokens.pop(), settings)
    if not 1 <= len(tokens) <= 2:
        raise CommandError("usage_visit", tags=settings.loyalty.service_tags)
    tag = None
    if len(tokens) == 2:
        if not settings.is_service_tag(tokens[1]):
            raise CommandError(
                "unknown_tag", tag=tokens[1][:40], tags=settings.loyalty.service_tags
            )
        tag = tokens[1].casefold()
    return VisitRequest(customer=_customer_token(tokens[0]), service_tag=tag, km=km)


def parse_redeem(args: str | None, settings: Settings) -> RedeemRequest:
    tokens = _tokens(args)
    if len(tokens) < 2:
        raise CommandError("usage_redeem")
    amount = _amount(" ".join(tokens[2:]), settings) if len(tokens) > 2 else None
    return RedeemRequest(
        customer=_customer_token(tokens[0]),
        points=_points(tokens[1], signed=False, maximum=10**9),
        purchase_amount=amount,
    )


def parse_reward(args: str | None, settings: Settings) -> RedeemRequest:
    """``<customer> <reward code>``: a reward of the catalogue, priced by the service."""
    tokens = _tokens(args)
    codes = [r.code for r in settings.loyalty.rewards]
    if len(tokens) != 2:
        raise CommandError("usage_reward", codes=codes)
    if tokens[1].casefold() not in codes:
        raise CommandError("unknown_reward", reward=tokens[1][:32], codes=codes)
    return RedeemRequest(
        customer=_customer_token(tokens[0]), points=0, purchase_amount=None,
        reward_code=tokens[1].casefold(),
    )  # fmt: skip


def parse_refund(args: str | None, settings: Settings) -> RefundRequest:
    tokens = _tokens(args)
    if not tokens:
        raise CommandError("usage_refund")
    number = tokens[0].lstrip("#№")
    if not is_ascii_number(number) or not 0 < int(number) <= MAX_DB_ID:
        raise CommandError("bad_purchase_number", text=tokens[0][:40])
    amount = _amount(" ".join(tokens[1:]), settings) if len(tokens) > 1 else None
    return RefundRequest(purchase_id=int(number), amount=amount)


def parse_adjust(args: str | None, settings: Settings) -> AdjustRequest:
    tokens = _tokens(args)
    if len(tokens) < 3:
        raise CommandError("usage_adjust")
    reason = " ".join(tokens[2:])
    if len(reason) > MAX_REASON_LENGTH:
        raise CommandError("text_too_long", maximum=MAX_REASON_LENGTH)
    return AdjustRequest(
        customer=_customer_token(tokens[0]),
        points=_points(tokens[1], signed=True, maximum=settings.loyalty.max_adjust_points),
        reason=reason,
    )


def parse_note(args: str | None, settings: Settings | None = None) -> NoteRequest:
    customer, _, text = (args or "").strip().partition(" ")
    text = text.strip()
    if not customer or not text:
        raise CommandError("usage_note")
    if len(text) > MAX_NOTE_LENGTH:
        raise CommandError("text_too_long", maximum=MAX_NOTE_LENGTH)
    return NoteRequest(customer=_customer_token(customer), text=text)


def parse_add_customer(args: str | None, settings: Settings | None = None) -> AddCustomerRequest:
    """``<phone> [name]``: the phone as one token (digits, optionally with + and dashes)."""
    phone, _, name = (args or "").strip().partition(" ")
    if not phone:
        raise CommandError("usage_addcustomer")
    digits = phone.replace("+", "").replace("-", "")
    if len(phone) > MAX_TOKEN_LENGTH or not is_ascii_number(digits):
        raise CommandError("bad_phone")
    return AddCustomerRequest(phone=phone, name=name.strip() or None)
