"""Rating-scale presets to and from plain dicts as parsed from TOML (seed 002's scale).

``preset_from_dict`` builds a custom preset and raises ``RatingScaleConfigError``
naming the offending key; ``preset_to_dict`` is its inverse (shown to the owner, and
round-tripped in tests). The scale itself and its scoring live in ``scoring.rating_scale``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from typing import Any

from scoring.rating_scale import (
    Band,
    Category,
    ChoiceCriterion,
    Criterion,
    NumericCriterion,
    RatingScaleConfigError,
    RatingScalePreset,
)


def _require(mapping: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in mapping:
        raise RatingScaleConfigError(f"{where}.{key}: required")
    return mapping[key]


def _as_int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise RatingScaleConfigError(f"{where}: must be an integer, got {value!r}")
    return value


def _as_number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise RatingScaleConfigError(f"{where}: must be a finite number, got {value!r}")
    return float(value)


def _as_text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise RatingScaleConfigError(f"{where}: must be a non-empty string, got {value!r}")
    return value


def _as_list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list | tuple):
        raise RatingScaleConfigError(f"{where}: must be a list, got {type(value).__name__}")
    return list(value)


def _criterion_from_dict(data: Any, where: str) -> Criterion:
    if not isinstance(data, Mapping):
        raise RatingScaleConfigError(f"{where}: must be a table")
    key = _as_text(_require(data, "key", where), f"{where}.key")
    title = str(data.get("title", ""))
    has_edges, has_choices = "edges" in data, "choices" in data
    if has_edges == has_choices:
        raise RatingScaleConfigError(f"{where}: give either 'edges' + 'points' or 'choices'")
    if has_choices:
        raw = _require(data, "choices", where)
        if not isinstance(raw, Mapping) or not raw:
            raise RatingScaleConfigError(f"{where}.choices: must be a non-empty table")
        choices = tuple(
            (_as_text(name, f"{where}.choices"), _as_int(pts, f"{where}.choices.{name}"))
            for name, pts in raw.items()
        )
        return ChoiceCriterion(key=key, choices=choices, title=title)
    edges = [
        _as_number(e, f"{where}.edges[{i}]")
        for i, e in enumerate(_as_list(data["edges"], f"{where}.edges"))
    ]
    if any(b <= a for a, b in itertools.pairwise(edges)):
        raise RatingScaleConfigError(f"{where}.edges: must be strictly increasing")
    pts = [
        _as_int(p, f"{where}.points[{i}]")
        for i, p in enumerate(_as_list(_require(data, "points", where), f"{where}.points"))
    ]
    if len(pts) != len(edges) + 1:
        raise RatingScaleConfigError(
            f"{where}.points: need len(edges) + 1 = {len(edges) + 1} values, got {len(pts)}"
        )
    exclusive = [
        _as_number(e, f"{where}.exclusive_edges[{i}]")
        for i, e in enumerate(_as_list(data.get("exclusive_edges", []), f"{where}.exclusive_edges"))
    ]
    if any(e not in edges for e in exclusive):
        raise RatingScaleConfigError(f"{where}.exclusive_edges: each must be one of the edges")
    lowers: list[float | None] = [None, *edges]
    uppers: list[float | None] = [*edges, None]
    bands = tuple(
        Band(
            lo,
            hi,
            p,
            label=(
                f"{'(' if lo in exclusive else '['}{lo if lo is not None else '-inf'}, "
                f"{hi if hi is not None else 'inf'})"
            ),
            lower_exclusive=lo in exclusive,
        )
        for lo, hi, p in zip(lowers, uppers, pts, strict=True)
    )
    return NumericCriterion(key=key, bands=bands, title=title, unit=str(data.get("unit", "")))


def _category_from_dict(data: Any, where: str) -> Category:
    if not isinstance(data, Mapping):
        raise RatingScaleConfigError(f"{where}: must be a table")
    key = _as_text(_require(data, "key", where), f"{where}.key")
    min_score = _as_int(_require(data, "min_score", where), f"{where}.min_score")
    benefits = tuple(
        _as_text(b, f"{where}.benefits[{i}]")
        for i, b in enumerate(_as_list(data.get("benefits", []), f"{where}.benefits"))
    )
    return Category(
        key=key, min_score=min_score, benefits=benefits, title=str(data.get("title", ""))
    )


def preset_from_dict(data: Mapping[str, Any], where: str = "rating_scale") -> RatingScalePreset:
    """Build a preset from a dict such as a parsed TOML table.

    Shape::

        name = "custom"
        [[criteria]]  key = "turnover_share_pct", edges = [3, 5, 10, 20], points = [0, 1, 2, 3, 4]
        [[criteria]]  key = "payment", choices = {prepayment = 2, on_time = 1, late = 0}
        [[categories]] key = "strategic", min_score = 12, benefits = ["..."]

    Edges follow the house rule (lower inclusive, upper exclusive); an edge also listed in
    ``exclusive_edges`` starts its band strictly above it ("more than"). Errors raise
    ``RatingScaleConfigError`` whose message starts with the key path.
    """
    if not isinstance(data, Mapping):
        raise RatingScaleConfigError(f"{where}: must be a table")
    name = _as_text(data.get("name", "custom"), f"{where}.name")
    raw_criteria = _as_list(_require(data, "criteria", where), f"{where}.criteria")
    if not raw_criteria:
        raise RatingScaleConfigError(f"{where}.criteria: at least one criterion is required")
    criteria = tuple(
        _criterion_from_dict(c, f"{where}.criteria[{i}]") for i, c in enumerate(raw_criteria)
    )
    raw_categories = _as_list(data.get("categories", []), f"{where}.categories")
    categories = tuple(
        _category_from_dict(c, f"{where}.categories[{i}]") for i, c in enumerate(raw_categories)
    )
    for field, values in (
        ("criteria", [c.key for c in criteria]),
        ("categories", [c.key for c in categories]),
        ("categories.min_score", [c.min_score for c in categories]),
    ):
        dupes = sorted({str(v) for v in values if values.count(v) > 1})
        if dupes:
            raise RatingScaleConfigError(f"{where}.{field}: duplicate values {dupes}")
    return RatingScalePreset(name=name, criteria=criteria, categories=categories)


def preset_to_dict(preset: RatingScalePreset) -> dict[str, Any]:
    """The inverse of ``preset_from_dict`` (labels and seed flags are not kept)."""
    criteria: list[dict[str, Any]] = []
    for c in preset.criteria:
        if isinstance(c, NumericCriterion):
            criteria.append(
                {
                    "key": c.key,
                    "title": c.title,
                    "unit": c.unit,
                    "edges": list(c.edges),
                    "points": [b.points for b in c.bands],
                    **({"exclusive_edges": list(c.exclusive_edges)} if c.exclusive_edges else {}),
                }
            )
        else:
            criteria.append({"key": c.key, "title": c.title, "choices": dict(c.choices)})
    categories = [
        {"key": c.key, "title": c.title, "min_score": c.min_score, "benefits": list(c.benefits)}
        for c in preset.categories
    ]
    return {"name": preset.name, "criteria": criteria, "categories": categories}
