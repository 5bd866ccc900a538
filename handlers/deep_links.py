"""The ``/start <payload>`` deep links the bot makes and recognises: one prefix each."""

from __future__ import annotations

CARD_LINK_PREFIX = "c_"  # a card's QR code: staff open the customer's card
REFERRAL_PREFIX = "ref_"  # a friend's invitation: ref_<card code>
INVITE_PREFIX = "inv_"  # an owner's one-time staff invitation: inv_<token>
OWNER_CODE_PREFIX = "own_"  # the one-time owner code (bot.services.people.owners): own_<code>
