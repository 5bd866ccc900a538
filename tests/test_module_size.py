"""No module over ~400 lines without a reason in its docstring (issue 13, SPEC: small
modules with one job). A long module's docstring states why on a line starting "Size:"."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "handlers", "scoring")
MAX_LINES = 400
REASON = "Size:"


def oversized_without_reason(source: str) -> bool:
    """True when ``source`` is over MAX_LINES lines and its docstring gives no Size: line."""
    if len(source.splitlines()) <= MAX_LINES:
        return False
    doc = ast.get_docstring(ast.parse(source)) or ""
    return not any(line.strip().startswith(REASON) for line in doc.splitlines())


def modules() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))


def test_every_long_module_says_why() -> None:
    found = modules()
    assert len(found) > 50, "the walk finds the packages"
    offenders = [
        f"{p.relative_to(ROOT)} ({len(p.read_text(encoding='utf-8').splitlines())} lines)"
        for p in found
        if oversized_without_reason(p.read_text(encoding="utf-8"))
    ]
    assert offenders == [], f"split these or give a '{REASON}' line in the docstring"


SHORT = '"""A module."""\nx = 1\n'
FILLER = "y = 2\n" * (MAX_LINES + 1)


@pytest.mark.parametrize(
    ("source", "flagged"),
    [
        (SHORT, False),
        ('"""A module."""\n' + FILLER, True),
        ('"""A module.\n\nSize: one table of one API.\n"""\n' + FILLER, False),
        ('"""A module mentioning Size: mid-line only."""\n' + FILLER, True),
        (FILLER, True),  # no docstring at all
        ("# Size: in a comment is not the docstring\n" + FILLER, True),
    ],
)
def test_the_check_itself(source: str, flagged: bool) -> None:
    assert oversized_without_reason(source) is flagged
