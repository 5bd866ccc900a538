"""Child process of ``bench.scoring``: the same RFM written in pandas, as a baseline.

The rule is ``scoring.rfm``'s (see its docstring and ``scoring._ranking``): customers
with purchases are ranked; a tie block gets its midpoint rank, which is what
``rank(method="average")`` gives (average rank r = below + (k + 1) / 2, so
2r - 1 = 2*below + k); group = floor(5 * (2r - 1) / (2n)), score = group + 1, in exact
integer arithmetic. Recency ranks descending (most recent -> 5), frequency and the
average check ascending. Customers without purchases get 0 / code 0 / "no_purchases";
segments come from the same R x F table. Only the scoring is timed (the DataFrame is
built beforehand), as the median of several runs.

Usage (normally started by ``bench.scoring``)::

    python -m bench.scoring_pandas IN.npz OUT.npz
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
import pandas as pd

from bench.scoring_data import peak_rss_mb
from scoring.rfm import DEFAULT_SEGMENT_RULES, NO_PURCHASES

REPEATS = 7


def _score(ranks: pd.Series, n: int) -> pd.Series:
    twice_rank = (2 * ranks - 1).astype("int64")  # exact: ranks are halves or wholes
    return (5 * twice_rank) // (2 * n) + 1


def pandas_rfm(df: pd.DataFrame) -> pd.DataFrame:
    """Columns recency (days), purchases, average -> R, F, M, code, segment."""
    cells = {r * 10 + f: rule.name for rule in DEFAULT_SEGMENT_RULES for r, f in rule.cells}
    bought = df[df["purchases"] > 0]
    n = len(bought)
    scores = pd.DataFrame(
        {
            "R": _score(bought["recency"].rank(method="average", ascending=False), n),
            "F": _score(bought["purchases"].rank(method="average"), n),
            "M": _score(bought["average"].rank(method="average"), n),
        }
    )
    out = scores.reindex(df.index, fill_value=0)
    out["code"] = out["R"] * 100 + out["F"] * 10 + out["M"]
    out["segment"] = (out["R"] * 10 + out["F"]).map(cells).fillna(NO_PURCHASES)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("inputs")
    parser.add_argument("out")
    args = parser.parse_args()
    data = np.load(args.inputs)
    df = pd.DataFrame(
        {"recency": data["recency"], "purchases": data["purchases"], "average": data["average"]}
    )
    times = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        result = pandas_rfm(df)
        times.append(time.perf_counter() - started)
    np.savez(
        args.out,
        code=result["code"].to_numpy(dtype=np.int16),
        segment=result["segment"].to_numpy(dtype=np.str_),
    )
    print(json.dumps({"rfm_s": statistics.median(times), "peak_rss_mb": peak_rss_mb()}))


if __name__ == "__main__":
    main()
