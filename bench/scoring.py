"""The reclassification job at scale: 1M customers, 10M purchases, SQLite and PostgreSQL.

What is measured, each in its own process:

* the whole ``reclassify(biz)`` (aggregate in SQL, score, build rows, upsert), wall time
  per phase and the process's peak RSS, in a fresh interpreter per backend
  (``bench.scoring_measure``): a first run that inserts every score row and a rerun that
  updates them all (the nightly steady state);
* the RFM scoring step against the same RFM in pandas on the same aggregates
  (``bench.scoring_pandas``, its own process so its memory does not count against ours),
  both medians of 7, with a check that both give identical codes and segments;
* the modified BG/NBD fit on CDNOW against ``lifetimes`` (optional bench dependency),
  medians of repeated fits, parameters compared (``bench.scoring_mbgnbd``).

The synthetic business is reproducible (``--seed``, see ``bench.scoring_data``). The
SQLite file is cached under bench/out/ keyed by size, seed and schema revision; each
measurement runs on a fresh copy of it. PostgreSQL gets a scratch database next to
``--pg-url`` (default ``$LOYALTY_BENCH_POSTGRES_URL`` or the local test server), loaded
by COPY and dropped afterwards.

Goals (issue): whole job <= 60 s on the 2-core bench machine, RFM scoring faster than
pandas, peak RSS <= 2 GB, our modified BG/NBD fit >= 2x faster than lifetimes with equal
parameters (within 1%).

Usage::

    .venv/bin/python -m bench.scoring [--customers 1000000] [--purchases 10000000]
        [--backend sqlite|postgresql|both] [--seed 20261123] [--rating b2b|none]
        [--profile] [--record]

A quick run: ``--customers 100000 --purchases 1000000``. The default run takes minutes
(the first time mostly generating and loading the data); it is not part of ``make test``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy.engine import make_url

from bench import scoring_data
from bench.common import cpu_model, scratch_postgres_blocking, server_version
from bot.db.migrate import head_revision, upgrade

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
RESULTS = ROOT / "bench" / "RESULTS.md"
DEFAULT_PG_URL = os.environ.get(
    "LOYALTY_BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
GENERATOR_VERSION = 2  # bump when bench.scoring_data changes what it generates
GOAL_JOB_S = 60.0
GOAL_RSS_MB = 2048.0
GOAL_BGNBD_SPEEDUP = 2.0


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Data:
    """The generated business, made once per invocation and only when needed."""

    def __init__(self, customers: int, purchases: int, seed: int) -> None:
        self.args = (customers, purchases, seed)
        self._biz: scoring_data.Business | None = None

    def get(self) -> scoring_data.Business:
        if self._biz is None:
            started = time.perf_counter()
            self._biz = scoring_data.generate(*self.args)
            log(
                f"generated {self.args[0]:,} customers, {self.args[1]:,} purchases "
                f"in {time.perf_counter() - started:.1f} s"
            )
        return self._biz


def sqlite_cache(data: Data) -> Path:
    customers, purchases, seed = data.args
    key = f"v{GENERATOR_VERSION}_{customers}_{purchases}_{seed}_{head_revision()}"
    path = OUT / f"scoring_{key}.db"
    if path.exists():
        log(f"sqlite: cached {path.relative_to(ROOT)}")
        return path
    OUT.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    try:
        upgrade(f"sqlite+aiosqlite:///{tmp}")
        started = time.perf_counter()
        scoring_data.load_sqlite(str(tmp), data.get())
        log(f"sqlite: loaded in {time.perf_counter() - started:.1f} s")
        tmp.rename(path)
    finally:
        for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
            leftover.unlink(missing_ok=True)
    return path


def run_child(module: str, *args: str) -> dict[str, Any]:
    cmd = [sys.executable, "-m", module, *args]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{module} failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(backend: str, url: str, args: argparse.Namespace) -> dict[str, Any]:
    inputs = OUT / f"scoring_rfm_inputs_{backend}.npz"
    profile = ["--profile", str(OUT / f"scoring_{backend}.prof")] if args.profile else []
    log(f"{backend}: measuring reclassify (fresh process)...")
    ours = run_child("bench.scoring_measure", url, str(inputs), "--rating", args.rating, *profile)
    log(f"{backend}: pandas baseline (own process)...")
    baseline = OUT / f"scoring_rfm_pandas_{backend}.npz"
    pandas = run_child("bench.scoring_pandas", str(inputs), str(baseline))
    a, b = np.load(inputs), np.load(baseline)
    pandas["codes_equal"] = bool(np.array_equal(a["code"], b["code"]))
    pandas["segments_equal"] = bool(np.array_equal(a["segment"], b["segment"]))
    inputs.unlink()
    baseline.unlink()
    return {"backend": backend, "ours": ours, "pandas": pandas}


def bench_sqlite(data: Data, args: argparse.Namespace) -> dict[str, Any]:
    cached = sqlite_cache(data)
    work = OUT / f"scoring_work_{os.getpid()}.db"
    shutil.copyfile(cached, work)
    try:
        result = measure("sqlite", f"sqlite+aiosqlite:///{work}", args)
    finally:
        for leftover in (work, Path(f"{work}-wal"), Path(f"{work}-shm")):
            leftover.unlink(missing_ok=True)
    result["version"] = sqlite3.sqlite_version
    return result


def postgres_version(pg_url: str) -> str | None:
    """The server's version; None (and a log line) when it cannot be reached: optional."""
    try:
        return asyncio.run(server_version(pg_url))
    except Exception as exc:
        log(f"postgresql: skipped, server unreachable: {exc!r}")
        return None


def bench_postgres(data: Data, args: argparse.Namespace) -> dict[str, Any] | None:
    version = postgres_version(args.pg_url)
    if version is None:
        return None
    with scratch_postgres_blocking(args.pg_url, "loyalty_bench") as url:
        dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        started = time.perf_counter()
        asyncio.run(scoring_data.load_postgres(dsn, data.get()))
        log(f"postgresql: loaded in {time.perf_counter() - started:.1f} s")
        result = measure("postgresql", url, args)
    result["version"] = version
    return result


def machine() -> dict[str, str]:
    return {
        "cpus": str(os.cpu_count()),
        "cpu": cpu_model(),
        "python": platform.python_version(),
        "numpy": np.__version__,
    }


def _phases(run: dict[str, Any]) -> str:
    p = run["phases"]
    other = p.get("start", 0.0) + p.get("finish", 0.0)
    return (
        f"{run['wall_s']:.1f} s = aggregate {p.get('aggregate', 0.0):.1f} + score "
        f"{p.get('score', 0.0):.1f} + rows {p.get('rows', 0.0):.1f} + write "
        f"{p.get('write', 0.0):.1f} + other {other:.1f}"
    )


def report(results: list[dict[str, Any]], bgnbd: dict[str, Any] | None, args: Any) -> str:
    m = machine()
    lines = [
        f"### {date.today().isoformat()}: {args.customers:,} customers, "
        f"{args.purchases:,} purchases (seed {args.seed}, rating scale {args.rating})",
        "",
        f"Machine: {m['cpus']} CPUs ({m['cpu']}), Python {m['python']}, numpy {m['numpy']}.",
        "",
    ]
    for r in results:
        ours, pandas = r["ours"], r["pandas"]
        first, rerun = ours["runs"]
        worst = max(first["wall_s"], rerun["wall_s"])
        speedup = pandas["rfm_s"] / ours["rfm_s"]
        lines += [
            f"**{r['backend']} {r['version']}**",
            "",
            f"- whole job, first run (insert): {_phases(first)}",
            f"- whole job, rerun (update): {_phases(rerun)}",
            f"- goal <= {GOAL_JOB_S:.0f} s: {'met' if worst <= GOAL_JOB_S else 'NOT met'}",
            f"- peak RSS {ours['peak_rss_mb']:.0f} MB (after imports "
            f"{ours['rss_before_mb']:.0f} MB; pandas process {pandas['peak_rss_mb']:.0f} MB): "
            f"goal <= {GOAL_RSS_MB:.0f} MB "
            f"{'met' if ours['peak_rss_mb'] <= GOAL_RSS_MB else 'NOT met'}",
            f"- RFM scoring, median of 7: ours {ours['rfm_s'] * 1000:.0f} ms, pandas "
            f"{pandas['rfm_s'] * 1000:.0f} ms: {speedup:.1f}x "
            f"({'met' if speedup > 1 else 'NOT met'}); identical codes: "
            f"{pandas['codes_equal']}, identical segments: {pandas['segments_equal']}",
            "- score() alone (RFM, lifecycle, modified BG/NBD + Gamma-Gamma fits and "
            f"predictions, value, strategy, rating): {ours['score_s']:.1f} s",
            f"- rows stored {ours['rows_stored']:,}; summary {ours['summary']}",
            "",
        ]
    if bgnbd is not None:
        line = f"**Modified BG/NBD on CDNOW** (median of {bgnbd['repeats']} fits): ours "
        line += f"{bgnbd['ours_s'] * 1000:.0f} ms"
        if "theirs_s" in bgnbd:
            ratio = bgnbd["theirs_s"] / bgnbd["ours_s"]
            equal = bgnbd["max_rel_diff"] <= 0.01
            line += (
                f", lifetimes {bgnbd['lifetimes']} {bgnbd['theirs_s'] * 1000:.0f} ms: "
                f"{ratio:.2f}x (goal >= {GOAL_BGNBD_SPEEDUP:.0f}x "
                f"{'met' if ratio >= GOAL_BGNBD_SPEEDUP and equal else 'NOT met'}); "
                f"largest parameter difference {bgnbd['max_rel_diff'] * 100:.3f}% "
                f"({'within' if equal else 'NOT within'} 1%)"
            )
        else:
            line += f"; lifetimes {bgnbd['lifetimes']}"
        lines += [line, ""]
    return "\n".join(lines)


def record(text: str) -> None:
    """Append under a '## Scoring' heading (added once); never rewrites the file."""
    existing = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else ""
    with RESULTS.open("a", encoding="utf-8") as fh:
        if "\n## Scoring" not in f"\n{existing}":
            fh.write(
                ("\n" if existing and not existing.endswith("\n") else "") + "\n## Scoring\n\n"
            )
        fh.write(text + "\n")
    log(f"appended to {RESULTS.relative_to(ROOT)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--purchases", type=int, default=10_000_000)
    parser.add_argument("--seed", type=int, default=20261123)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--rating", choices=["b2b", "none"], default="b2b")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    parser.add_argument("--bgnbd-repeats", type=int, default=7)
    parser.add_argument("--no-bgnbd", action="store_true")
    parser.add_argument("--profile", action="store_true", help="cProfile the rerun to bench/out")
    parser.add_argument("--record", action="store_true", help="append to bench/RESULTS.md")
    args = parser.parse_args()
    if args.purchases < 1 or args.customers < 1:
        parser.error("sizes must be positive")
    OUT.mkdir(parents=True, exist_ok=True)
    data = Data(args.customers, args.purchases, args.seed)
    results = []
    if args.backend in ("sqlite", "both"):
        results.append(bench_sqlite(data, args))
    if args.backend in ("postgresql", "both"):
        pg = bench_postgres(data, args)
        if pg is not None:
            results.append(pg)
    bgnbd = None
    if not args.no_bgnbd:
        log("modified BG/NBD on CDNOW...")
        bgnbd = run_child("bench.scoring_mbgnbd", "--repeats", str(args.bgnbd_repeats))
    text = report(results, bgnbd, args)
    print(text)
    (OUT / "scoring_last.json").write_text(json.dumps({"results": results, "bgnbd": bgnbd}))
    if args.record:
        record(text)


if __name__ == "__main__":
    main()
