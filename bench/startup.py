"""Start-up cost: importing what ``loyalty-bot run`` needs against aiogram alone (issue 20).

Each case is a fresh interpreter (``python -c ...``); what counts is the CPU time it spent
from spawn to exit (user + system, from ``wait4``), so the interpreter's own start and every
import count, as they do for ``make run``, and other work on the machine barely does. The cases
run interleaved, ``--runs`` times each (5 by default), in one run of this script, and the
table gives each one's median:

* ``python``: the interpreter starting and exiting (``pass``);
* ``aiogram bot``: a bare aiogram bot's start: ``Bot`` and ``Dispatcher`` imported and built;
* ``loyalty-bot run``: ``bot.cli``, ``bot.app``, ``bot.jobs`` and every handler router:
  what ``loyalty-bot run`` imports before its first ``getUpdates``.

Also printed: which heavy libraries (matplotlib, scipy, numpy, openpyxl, pandas) the last
case loaded. Goal (issue 20): ``loyalty-bot run`` within 1.2x of the aiogram bot.

Usage::

    .venv/bin/python -m bench.startup [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
from datetime import date

CASES = {
    "python": "pass",
    "aiogram bot": ("from aiogram import Bot, Dispatcher\nDispatcher(); Bot('123456:' + 'A' * 35)"),
    "loyalty-bot run": "import bot.cli, bot.app, bot.jobs, handlers",
}
HEAVY = ("matplotlib", "scipy", "numpy", "openpyxl", "pandas")


def seconds(code: str) -> float:
    """CPU seconds (user + system) the child process spent: unlike wall time, barely moved
    by other work on a shared machine."""
    process = subprocess.Popen([sys.executable, "-c", code])
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise subprocess.CalledProcessError(process.returncode, process.args)
    return usage.ru_utime + usage.ru_stime


def heavy_loaded() -> str:
    listed = f"print(*[m for m in {HEAVY!r} if m in sys.modules])"
    probe = f"{CASES['loyalty-bot run']}\nimport sys\n{listed}"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return out.stdout.strip() or "none"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    seconds(CASES["loyalty-bot run"])  # compile caches (.pyc) written before timing
    times: dict[str, list[float]] = {name: [] for name in CASES}
    for _ in range(args.runs):
        for name, code in CASES.items():
            times[name].append(seconds(code))
    medians = {name: statistics.median(values) for name, values in times.items()}
    cpu = platform.processor() or platform.node()
    machine = f"{platform.machine()}, {cpu}, Python {platform.python_version()}"
    print(f"{date.today().isoformat()}, {machine}, CPU s, medians of {args.runs} processes")
    print("| case | median CPU s | all runs CPU s |\n|---|---|---|")
    for name, values in times.items():
        runs = " ".join(f"{v:.2f}" for v in values)
        print(f"| {name} | {medians[name]:.2f} | {runs} |")
    ratio = medians["loyalty-bot run"] / medians["aiogram bot"]
    print(f"\nloyalty-bot run / aiogram bot: {ratio:.2f}x (goal 1.2x)")
    print(f"heavy modules loaded by loyalty-bot run's imports: {heavy_loaded()}")


if __name__ == "__main__":
    main()
