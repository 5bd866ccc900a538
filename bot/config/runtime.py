"""Configuration of how the process runs: Telegram, the database, the web side, the worker."""

from __future__ import annotations

from pydantic import Field, field_validator

from bot.config.base import Section


class TelegramSettings(Section):
    api_server: str = "https://api.telegram.org"
    polling_timeout: int = Field(default=30, ge=1, le=60)
    max_concurrent_updates: int = Field(default=32, ge=1, le=1000)
    fsm_redis_url: str | None = None  # conversation state in Redis (several bot processes)

    @field_validator("api_server")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")


# The default database's directory, created on first use; any other directory named in
# database.url must exist (a mistyped path is refused, not created).
DEFAULT_SQLITE_DIR = "data"


class DatabaseSettings(Section):
    url: str = f"sqlite+aiosqlite:///{DEFAULT_SQLITE_DIR}/loyalty.db"
    busy_timeout_ms: int = Field(default=15000, ge=0)

    @field_validator("url")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("use sqlite+aiosqlite:///path.db or postgresql+asyncpg://user@host/db")
        return value


MINI_APP_PATH = "/app"  # where bot/webapp/ serves the Mini App


class WebSettings(Section):
    """The HTTP side: the webhook (``run --webhook``), health checks and metrics."""

    host: str = "127.0.0.1"
    port: int = Field(default=0, ge=0, le=65535)  # 0: no HTTP server unless --webhook
    webhook_url: str | None = None  # public HTTPS address Telegram posts to (webhook set)
    webhook_path: str = Field(default="/telegram/webhook", pattern=r"^/[A-Za-z0-9/_-]*$")
    webhook_secret: str | None = Field(default=None, repr=False, pattern=r"^[A-Za-z0-9_-]{16,256}$")
    # The Mini App (bot/webapp/): on when the public HTTPS address is set.
    public_url: str | None = None
    init_data_max_age: int = Field(default=3600, ge=60, le=7 * 24 * 3600)  # seconds

    @field_validator("public_url")
    @classmethod
    def _https(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith("https://"):
            raise ValueError("must start with https:// (Telegram opens Mini Apps over HTTPS only)")
        return value.rstrip("/")

    @property
    def mini_app_url(self) -> str | None:
        """The wallet's address, or None when the Mini App is off."""
        return f"{self.public_url}{MINI_APP_PATH}/" if self.public_url else None


class WorkerSettings(Section):
    """The worker role: scheduler and outbox sender, one active process at a time."""

    lease_check_seconds: float = Field(default=5.0, gt=0, le=300)
