"""Points and what they are worth: the ledger, tiers, expiry, offers, and what counts as a
live purchase.
May use: the kernel and outbox."""
