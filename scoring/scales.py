"""The answer scales customers are asked on (no numpy: the bot's config and models read
them at start-up, before any statistic is computed)."""

from __future__ import annotations

# The post-visit survey's scale (seeds 003, 004): one home for the bot's buttons, the
# callback's check, the table's constraint and the config's threshold.
SURVEY_LOWEST, SURVEY_HIGHEST = 1, 5
SURVEY_SCORES = range(SURVEY_LOWEST, SURVEY_HIGHEST + 1)

# "Would you recommend us?" (NPS, ``scoring.nps``): the usual 0-10 scale.
NPS_LOWEST, NPS_HIGHEST = 0, 10
NPS_SCORES = range(NPS_LOWEST, NPS_HIGHEST + 1)
