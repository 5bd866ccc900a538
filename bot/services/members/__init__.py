"""A member's life in the programme: sign-up and profile, the owner's client card, the
rules as a customer reads them, privacy (/mydata, /forget), retention of records, and
import and export of the base.
May use: every other package."""
