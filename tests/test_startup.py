"""Start-up (issue 20, item 12): the first getUpdates needs none of the heavy libraries,
and the scheduler says what it scheduled in one line, not two per job."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest

from bot.jobs import DAILY_JOBS
from bot.scheduler import build_scheduler
from tests.support.harness import App

HEAVY = ("matplotlib", "scipy", "openpyxl", "pandas")


def test_importing_what_run_needs_loads_no_heavy_library() -> None:
    """«matplotlib, scipy, numpy and openpyxl load at start although the first message
    needs none of them»: `loyalty-bot run` imports bot.cli and bot.app (which builds the
    dispatcher with every router); none of them may pull in a chart, fit or XLSX library."""
    probe = (
        "import sys, bot.cli, bot.app, bot.jobs, handlers\n"
        f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip() == "", f"loaded at start-up: {done.stdout.strip()}"


async def test_the_scheduler_logs_one_line_for_its_job_set(
    app: App, caplog: pytest.LogCaptureFixture
) -> None:
    """«18 scheduler log lines around the owner link»: one line names every job and its
    time; APScheduler's own per-job lines stay quiet."""
    caplog.set_level(logging.INFO)
    scheduler = build_scheduler(app.biz, DAILY_JOBS)
    scheduler.start(paused=True)
    try:
        lines = [
            r.getMessage()
            for r in caplog.records
            if r.name.startswith(("apscheduler", "bot.scheduler"))
        ]
    finally:
        scheduler.shutdown(wait=False)
    assert len(lines) == 1, lines
    assert all(job.id in lines[0] for job in DAILY_JOBS)
    assert "rescore 03:30" in lines[0]


def test_scoring_lazy_exports_resolve_to_their_homes() -> None:
    """The lazy export table of ``scoring`` restates names its modules define: each one
    must still exist there (a renamed function fails here, not at the first /rescore)."""
    import importlib

    import scoring

    for module, names in scoring._HOMES.items():
        home = importlib.import_module(module)
        for name in names:
            assert getattr(scoring, name) is getattr(home, name), f"{module}.{name}"
