"""`loyalty-bot rekey`: replace a public ``privacy.id_hash_salt`` with a secret one and
re-key the database (``bot.config.salt``, ``bot.services.members.rekey``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from bot.cli import ConfigOption, _fail, _settings, _with_business, app
from bot.config import salt

if TYPE_CHECKING:
    from bot.services.context import Business
    from bot.services.members.rekey import Rekeyed

OldSaltOption = typer.Option(
    "loyalty-bot", "--old-salt", help="the salt the database was keyed with"
)
DropOption = typer.Option(
    False, "--drop-erased", help="also drop the keys of erased customers (see docs)"
)


@app.command()
def rekey(config: Path = ConfigOption, old_salt: str = OldSaltOption,
          drop_erased: bool = DropOption) -> None:  # fmt: skip
    """Re-key the hashes kept after /forget from --old-salt to the configured salt; a
    public or missing one is first replaced by a random salt written into the config."""
    from bot.services.members.rekey import rekey as run_rekey

    settings = _settings(config)
    current = settings.privacy.id_hash_salt
    new = current
    if salt.is_public(current):
        if os.environ.get(salt.ENV_NAME):
            _fail(f"set {salt.ENV_NAME} to a new random string, then run rekey again")
        old_salt, new = current or old_salt, salt.new_salt()
        salt.write_salt(config, new)  # first: a failure below is retried with --old-salt
    if old_salt == new:
        _fail("--old-salt is the configured salt: nothing to re-key")

    async def work(biz: Business) -> Rekeyed:
        return await run_rekey(biz, old_salt, new, drop=drop_erased)

    done = _with_business(settings, work)
    typer.echo(
        f"re-keyed {done.opening_keys} opening balances and {done.identities} forgotten "
        f"ids; {done.left} erased customers' opening keys still use the old salt"
        + (f"; dropped {done.dropped} keys" if drop_erased else " (--drop-erased drops them)")
    )
