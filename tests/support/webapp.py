"""What a Mini App test needs: Telegram's signed ``initData`` made with the test token
(the data-check string and HMAC of core.telegram.org/bots/webapps, computed here on its
own so the server's check is tested, not assumed), and settings with the Mini App on."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from bot.app import PLACEHOLDER_TOKEN

PUBLIC_URL = "https://loyalty.example.test"
WEB = {"public_url": PUBLIC_URL, "init_data_max_age": 3600}


def sign(fields: dict[str, str], token: str = PLACEHOLDER_TOKEN) -> str:
    """``fields`` plus their ``hash``, url-encoded as Telegram hands them to the page."""
    check = "\n".join(f"{k}={v}" for k, v in sorted(fields.items()))
    secret = hmac.new(b"WebAppData", token.encode(), hashlib.sha256).digest()
    digest = hmac.new(secret, check.encode(), hashlib.sha256).hexdigest()
    return urlencode({**fields, "hash": digest})


def user_fields(user_id: int, at: datetime, language: str = "en", **extra: Any) -> dict[str, str]:
    user = {"id": user_id, "first_name": "Olga", "language_code": language, **extra}
    return {
        "query_id": "AAHdF6IQAAAAAN0XohDhrOrc",
        "user": json.dumps(user, separators=(",", ":"), ensure_ascii=False),
        "auth_date": str(int(at.timestamp())),
    }


def init_data(
    user_id: int, at: datetime, language: str = "en", token: str = PLACEHOLDER_TOKEN
) -> str:
    return sign(user_fields(user_id, at, language), token)


def auth(data: str) -> dict[str, str]:
    return {"Authorization": f"tma {data}"}
