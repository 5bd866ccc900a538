"""Programme rules as data: earn rules (multiplier, promotion, punch card, fixed bonus) on
top of the tier's percent, in versions with a start date; the simulation that replays a
year of purchases under a proposed file. Between ``counter`` (which books what they earn)
and ``money`` (tiers, the ledger)."""
