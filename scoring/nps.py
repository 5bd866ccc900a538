"""Net Promoter Score: the "would you recommend us" 0-10 answers (seed 004).

Seed 004 counts among the key metrics "количество рекомендаций от существующих
клиентов"; the referral programme counts the recommendations made, and this counts the
willingness to make one, asked as the usual 0-10 question. NPS = share of promoters
(9-10) minus share of detractors (0-6), in points from -100 to 100; 7-8 are passive.
None without answers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from scoring.scales import NPS_HIGHEST, NPS_LOWEST

PROMOTER_FROM = 9  # 9-10
DETRACTOR_UP_TO = 6  # 0-6


@dataclass(frozen=True)
class Nps:
    """NPS of a set of 0-10 answers (module docstring)."""

    responses: int
    promoters: int
    passives: int
    detractors: int

    @property
    def score(self) -> float | None:
        if not self.responses:
            return None
        return 100.0 * (self.promoters - self.detractors) / self.responses


def nps_of(counts: Iterable[tuple[int, int]]) -> Nps:
    """NPS of (score, how many answers) pairs, as the database groups them (no numpy: a
    count needs none, and /stats is read without loading it)."""
    by_score: dict[int, int] = {}
    for score, n in counts:
        if not NPS_LOWEST <= score <= NPS_HIGHEST:
            raise ValueError(f"recommendation scores are {NPS_LOWEST} to {NPS_HIGHEST}")
        by_score[score] = by_score.get(score, 0) + n
    responses = sum(by_score.values())
    promoters = sum(n for s, n in by_score.items() if s >= PROMOTER_FROM)
    detractors = sum(n for s, n in by_score.items() if s <= DETRACTOR_UP_TO)
    return Nps(
        responses=responses,
        promoters=promoters,
        passives=responses - promoters - detractors,
        detractors=detractors,
    )
