"""Customer rating scale ("Шкала установления рейтинга клиента", seed 002) as data.

A preset is a tuple of criteria (numeric bands or named choices, each worth points)
and a tuple of categories (minimum total score, benefits). ``B2B_PRESET``
reproduces the seed's table; ``preset_from_dict`` builds a custom one from a plain
dict as parsed from TOML (``scoring.rating_scale_config``), with errors that name the
offending key.

Choices the seed leaves open (documented here, tested in tests/scoring):

- Band edges: adjacent rows share their edges ("от 3% до 5%", "от 5% до 10%").
  Rule: lower edge inclusive, upper edge exclusive. So 3% -> 1 point, 5% -> 2,
  20% -> 4; 6 months -> 1, 12 months -> 2; growth 10% -> 1, 20% -> 3. One exception,
  where the seed's own words say so: "Более 3-х лет" is MORE than 36 months, so that
  band's lower edge is exclusive (``Band.lower_exclusive``): 36 months -> 3 (the row
  "от 2-х до 3-х лет"), anything beyond -> 4 (SPEC: rules that need one answer).
- Units: turnover share and growth in percent; cooperation in calendar months
  (``scoring.calendar.calendar_months``: each anniversary is a whole number).
- Payment: the seed has prepayment 2 and on time 1; late payment has no row and
  scores 0 (marked ``in_seed=False``).
- Growth: the seed covers 0-30%. Negative growth scores 0 (as 0-10%), growth of
  30% and above scores 3 (as the top band); both rows are marked ``in_seed=False``.
- Categories overlap at 12 ("от 12 баллов и выше" vs "от 9 до 12"): a category is
  the highest one whose minimum the score reaches, so 12 = strategic. Standard
  "5 to 8" and regular "from 9" leave no gap for integer scores.
- Scores below 5 have no category in the seed: the result is None (category
  index -1); the bot gives such customers no b2b tier.
- The maximum is 13 (4 + 4 + 2 + 3).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray


class RatingScaleConfigError(ValueError):
    """A custom preset is malformed; the message names the key (e.g. criteria[1].edges)."""


@dataclass(frozen=True)
class Band:
    """Points for values in [lower, upper) — or (lower, upper) when ``lower_exclusive``;
    None means unbounded on that side."""

    lower: float | None
    upper: float | None
    points: int
    label: str = ""
    in_seed: bool = True
    lower_exclusive: bool = False


@dataclass(frozen=True)
class NumericCriterion:
    """A criterion scored by contiguous bands that cover the whole real line."""

    key: str
    bands: tuple[Band, ...]
    title: str = ""
    unit: str = ""

    def __post_init__(self) -> None:
        bands = self.bands
        if not bands:
            raise ValueError(f"{self.key}: no bands")
        if bands[0].lower is not None or bands[-1].upper is not None:
            raise ValueError(f"{self.key}: first band must start at -inf and last end at +inf")
        for left, right in itertools.pairwise(bands):
            if left.upper is None or right.lower is None or left.upper != right.lower:
                raise ValueError(f"{self.key}: bands must be contiguous (shared edges)")
            if right.lower <= (left.lower if left.lower is not None else -math.inf):
                raise ValueError(f"{self.key}: band edges must increase")

    @property
    def edges(self) -> tuple[float, ...]:
        """Inner edges (lower bounds of all bands but the first)."""
        return tuple(float(b.lower) for b in self.bands[1:] if b.lower is not None)

    @property
    def max_points(self) -> int:
        return max(b.points for b in self.bands)

    @property
    def exclusive_edges(self) -> tuple[float, ...]:
        """Inner edges whose band starts strictly above them (e.g. "более 3-х лет")."""
        return tuple(
            float(b.lower) for b in self.bands[1:] if b.lower is not None and b.lower_exclusive
        )

    def score(self, values: ArrayLike) -> NDArray[np.int64]:
        """Points per value; lower edge inclusive (unless marked exclusive), upper exclusive."""
        v = np.asarray(values, dtype=np.float64)
        if not np.all(np.isfinite(v)):
            raise ValueError(f"{self.key}: values must be finite numbers")
        points = np.array([b.points for b in self.bands], dtype=np.int64)
        index = np.searchsorted(np.array(self.edges), v, side="right")
        exclusive = np.array(self.exclusive_edges)
        on_exclusive_edge = np.isin(v, exclusive) if exclusive.size else False
        return points[index - on_exclusive_edge]


@dataclass(frozen=True)
class ChoiceCriterion:
    """A criterion scored by a named choice (e.g. payment timeliness)."""

    key: str
    choices: tuple[tuple[str, int], ...]
    title: str = ""
    not_in_seed: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        names = [name for name, _ in self.choices]
        if not names or len(set(names)) != len(names):
            raise ValueError(f"{self.key}: choices must be non-empty and unique")

    @property
    def max_points(self) -> int:
        return max(p for _, p in self.choices)

    def score(self, values: ArrayLike) -> NDArray[np.int64]:
        """Points per choice label; an unknown label is an error naming it."""
        v = np.asarray(values, dtype=object).astype(str)
        if v.size == 0:
            return np.zeros(v.shape, dtype=np.int64)
        labels, inverse = np.unique(v, return_inverse=True)
        table = dict(self.choices)
        unknown = [str(label) for label in labels if label not in table]
        if unknown:
            raise ValueError(f"{self.key}: unknown choice(s) {unknown}; known: {list(table)}")
        points = np.array([table[str(label)] for label in labels], dtype=np.int64)
        return points[inverse.reshape(v.shape)]


Criterion = NumericCriterion | ChoiceCriterion


@dataclass(frozen=True)
class Category:
    """A customer category reached from ``min_score`` points, with its benefits."""

    key: str
    min_score: int
    benefits: tuple[str, ...] = ()
    title: str = ""


@dataclass(frozen=True)
class RatingScalePreset:
    """Criteria plus categories; pure data, validated on construction."""

    name: str
    criteria: tuple[Criterion, ...]
    categories: tuple[Category, ...]

    def __post_init__(self) -> None:
        keys = [c.key for c in self.criteria]
        if not keys or len(set(keys)) != len(keys):
            raise ValueError("criteria keys must be non-empty and unique")
        cat_keys = [c.key for c in self.categories]
        mins = [c.min_score for c in self.categories]
        if len(set(cat_keys)) != len(cat_keys) or len(set(mins)) != len(mins):
            raise ValueError("category keys and min_score values must be unique")

    @property
    def max_score(self) -> int:
        return sum(c.max_points for c in self.criteria)

    @property
    def category_keys(self) -> tuple[str, ...]:
        return tuple(c.key for c in self.categories)


def _bands(
    rows: Sequence[tuple[float | None, float | None, int, str, bool]],
    exclusive: Sequence[float] = (),
) -> tuple[Band, ...]:
    return tuple(
        Band(lo, hi, pts, label, seed, lower_exclusive=lo in exclusive)
        for lo, hi, pts, label, seed in rows
    )


B2B_PRESET = RatingScalePreset(
    name="b2b",
    criteria=(
        NumericCriterion(
            key="turnover_share_pct",
            title="Customer's share of the business's turnover",
            unit="%",
            bands=_bands(
                (
                    (None, 3, 0, "Менее 3%", True),
                    (3, 5, 1, "От 3% до 5%", True),
                    (5, 10, 2, "От 5% до10%", True),
                    (10, 20, 3, "От 10%до20%", True),
                    (20, None, 4, "от 20% и выше", True),
                )
            ),
        ),
        NumericCriterion(
            key="cooperation_months",
            title="Length of cooperation",
            unit="months",
            bands=_bands(
                (
                    (None, 6, 0, "До полугода", True),
                    (6, 12, 1, "От полугода до 1 года", True),
                    (12, 24, 2, "От 1 года до 2-х лет", True),
                    (24, 36, 3, "От 2-х до 3-х лет", True),
                    (36, None, 4, "Более 3-х лет", True),
                ),
                exclusive=(36,),  # "более": more than 36 months
            ),
        ),
        ChoiceCriterion(
            key="payment",
            title="Payment timeliness",
            choices=(("prepayment", 2), ("on_time", 1), ("late", 0)),
            not_in_seed=("late",),
        ),
        NumericCriterion(
            key="monthly_growth_pct",
            title="Average monthly sales growth",
            unit="%",
            bands=_bands(
                (
                    (None, 0, 0, "below 0% (not in seed: scored as 0-10%)", False),
                    (0, 10, 0, "От 0% до 10%", True),
                    (10, 20, 1, "От 10% до 20%", True),
                    (20, 30, 3, "От  20% до 30%", True),
                    (30, None, 3, "30% and above (not in seed: scored as top band)", False),
                )
            ),
        ),
    ),
    categories=(
        Category(
            key="strategic",
            title="Стратегический (ключевой) партнер",
            min_score=12,
            benefits=(
                "special_terms",
                "preferential_credit",
                "cumulative_discounts",
                "personal_manager",
                "prompt_consultations",
                "faster_service",
            ),
        ),
        Category(
            key="regular",
            title="Постоянный клиент",
            min_score=9,
            benefits=(
                "preferential_credit",
                "cumulative_discounts",
                "personal_manager",
                "consultations",
            ),
        ),
        Category(
            key="standard",
            title="Стандартный клиент",
            min_score=5,
            benefits=("standard_discounts", "information_support"),
        ),
    ),
)

# Seed 002 wording of each b2b benefit key (ru original, en translation), for docs and
# as a default the templates can override.
B2B_BENEFIT_TEXT: Mapping[str, tuple[str, str]] = {
    "special_terms": ("Особые условия договора", "Special contract terms"),
    "preferential_credit": ("Право на льготный кредит", "Right to preferential credit"),
    "cumulative_discounts": ("Система накопительных скидок", "Cumulative discounts"),
    "personal_manager": ("Обслуживание персональным менеджером", "A personal manager"),
    "prompt_consultations": (
        "Оперативные консультации по текущим вопросам",
        "Prompt consultations on current matters",
    ),
    "consultations": (
        "Оперативные консультации по текущим вопросам",
        "Consultations on current matters",
    ),
    "faster_service": ("Сокращение сроков обслуживания", "Faster service"),
    "standard_discounts": ("Стандартные скидки", "Standard discounts"),
    "information_support": ("Информационная поддержка", "Information support"),
}


@dataclass(frozen=True, eq=False)
class RatingScaleResult:
    """Points per criterion, total score and category index (-1 = no category)."""

    points: Mapping[str, NDArray[np.int64]]
    total: NDArray[np.int64]
    category: NDArray[np.int64]
    category_keys: tuple[str, ...]

    def category_labels(self) -> list[str | None]:
        """Category key per customer, None below the lowest category."""
        keys = self.category_keys
        return [keys[i] if i >= 0 else None for i in self.category.tolist()]


def score_rating_scale(
    preset: RatingScalePreset, inputs: Mapping[str, ArrayLike]
) -> RatingScaleResult:
    """Score every customer on every criterion of the preset (vectorised).

    ``inputs`` maps each criterion key to an array (one value per customer). Missing
    or unexpected keys are errors, so a typo cannot silently score 0.
    """
    expected = [c.key for c in preset.criteria]
    missing = [k for k in expected if k not in inputs]
    extra = [k for k in inputs if k not in expected]
    if missing or extra:
        raise ValueError(f"rating scale inputs: missing {missing}, unexpected {extra}")
    points = {c.key: c.score(inputs[c.key]) for c in preset.criteria}
    shapes = {p.shape for p in points.values()}
    if len(shapes) != 1:
        raise ValueError(f"rating scale inputs differ in length: {sorted(shapes)}")
    total = np.sum(np.stack(list(points.values())), axis=0)
    order = np.argsort([c.min_score for c in preset.categories], kind="stable")
    mins = np.array([preset.categories[i].min_score for i in order], dtype=np.int64)
    position = np.searchsorted(mins, total, side="right") - 1
    lookup = np.append(order, -1)  # position -1 wraps to the last item: "no category"
    category = lookup[position].astype(np.int64)
    return RatingScaleResult(
        points=points, total=total, category=category, category_keys=preset.category_keys
    )
