"""Child process of ``bench.scoring``: modified BG/NBD on CDNOW, ours against ``lifetimes``.

``scoring.fit_mbgnbd(x, t_x, T)`` and ``lifetimes.ModifiedBetaGeoFitter().fit(frequency,
recency, T)`` (no penalty) on the 2,357 CDNOW customers, each fitted REPEATS times, interleaved;
the medians are compared and the parameters checked to agree within 1%. ``lifetimes`` is
an optional bench dependency: without it only our fit is timed.

Usage (normally started by ``bench.scoring``)::

    python -m bench.scoring_mbgnbd [--repeats 7]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

import scoring

DATA = (
    Path(__file__).resolve().parents[1] / "tests/data/cdnow_customers_summary_with_transactions.csv"
)
PARAMS = ("r", "alpha", "a", "b")


def run(repeats: int) -> dict[str, Any]:
    table = np.genfromtxt(DATA, delimiter=",", names=True)
    x, t_x, T = (np.asarray(table[c], dtype=np.float64) for c in ("x", "t_x", "T"))
    try:
        import pandas as pd
        from lifetimes import ModifiedBetaGeoFitter as BetaGeoFitter
    except ImportError as err:
        BetaGeoFitter = None
        missing = str(err)
    ours_s: list[float] = []
    theirs_s: list[float] = []
    ours: dict[str, float] = {}
    theirs: dict[str, float] = {}
    for _ in range(repeats):
        started = time.perf_counter()
        fit = scoring.fit_mbgnbd(x, t_x, T)
        ours_s.append(time.perf_counter() - started)
        assert fit.params is not None, fit.reason
        ours = {p: float(getattr(fit.params, p)) for p in PARAMS}
        if BetaGeoFitter is not None:
            frame = pd.DataFrame({"x": x, "t_x": t_x, "T": T})
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                started = time.perf_counter()
                fitter = BetaGeoFitter(penalizer_coef=0.0)
                fitter.fit(frame["x"], frame["t_x"], frame["T"], verbose=False)
                theirs_s.append(time.perf_counter() - started)
            theirs = {p: float(fitter.params_[p]) for p in PARAMS}
    report: dict[str, Any] = {
        "repeats": repeats,
        "ours_s": statistics.median(ours_s),
        "ours": ours,
        "loglik": fit.loglik,
    }
    if BetaGeoFitter is None:
        report["lifetimes"] = f"not installed ({missing})"
        return report
    import lifetimes

    report["lifetimes"] = lifetimes.__version__
    report["theirs_s"] = statistics.median(theirs_s)
    report["theirs"] = theirs
    report["max_rel_diff"] = max(abs(ours[p] - theirs[p]) / abs(theirs[p]) for p in PARAMS)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    print(json.dumps(run(args.repeats)))


if __name__ == "__main__":
    main()
