"""Refusals a service raises; each code names a template block in ``errors.html``."""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """A business rule said no. Raised inside a transaction, so nothing is written."""

    def __init__(self, code: str, **params: Any) -> None:
        super().__init__(code)
        self.code = code
        self.params = params


# Refusals that are privileged matters, not typing mistakes: the audit log keeps them
# (SPEC.md: staff and owners never act on their own customer account).
AUDITED_REFUSALS = frozenset({"own_account"})
