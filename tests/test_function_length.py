"""No product function over 60 lines (issue 18: short functions that read top to bottom).

Walks bot/, handlers/ and scoring/ (Alembic migrations aside) with ``ast`` and measures every
function and method as ``end_lineno - lineno + 1`` of its ``def``; a nested closure counts
inside its parent, so a long ``work`` closure makes its parent long too."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "handlers", "scoring")
EXCLUDED = ("migrations",)
MAX_LINES = 60


def long_functions(source: str) -> list[tuple[str, int]]:
    """(qualified name, lines) of every function in ``source`` longer than MAX_LINES."""
    found: list[tuple[str, int]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                name = f"{prefix}{child.name}"
                length = (child.end_lineno or child.lineno) - child.lineno + 1
                if length > MAX_LINES:
                    found.append((name, length))
                visit(child, f"{name}.")
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            else:
                visit(child, prefix)

    visit(ast.parse(source), "")
    return found


def modules() -> list[Path]:
    return sorted(
        p
        for pkg in PACKAGES
        for p in (ROOT / pkg).rglob("*.py")
        if not any(part in EXCLUDED for part in p.relative_to(ROOT).parts)
    )


def test_no_product_function_over_the_limit() -> None:
    found = modules()
    assert len(found) > 50, "the walk finds the packages"
    offenders = [
        f"{p.relative_to(ROOT)}: {name} ({length} lines)"
        for p in found
        for name, length in long_functions(p.read_text(encoding="utf-8"))
    ]
    assert offenders == [], f"split these into named functions of at most {MAX_LINES} lines"


def _function(lines: int, *, indent: str = "", name: str = "f") -> str:
    """A def of exactly ``lines`` lines (the def line included)."""
    body = "".join(f"{indent}    x{i} = {i}\n" for i in range(lines - 1))
    return f"{indent}def {name}() -> None:\n{body}"


@pytest.mark.parametrize(
    ("source", "flagged"),
    [
        (_function(MAX_LINES), []),
        (_function(MAX_LINES + 1), [("f", MAX_LINES + 1)]),
        (_function(MAX_LINES + 1).replace("def f", "async def f"), [("f", MAX_LINES + 1)]),
        (
            "class C:\n" + _function(MAX_LINES + 1, indent="    ", name="m"),
            [("C.m", MAX_LINES + 1)],
        ),
        # a short closure inside a long parent: the parent is flagged, the closure is not
        (
            "def outer() -> None:\n"
            + _function(MAX_LINES - 5, indent="    ", name="work")
            + "".join(f"    y{i} = {i}\n" for i in range(5)),
            [("outer", MAX_LINES + 1)],
        ),
        # a long closure flags both itself and its parent
        (
            "def outer() -> None:\n" + _function(MAX_LINES + 1, indent="    ", name="work"),
            [("outer", MAX_LINES + 2), ("outer.work", MAX_LINES + 1)],
        ),
        # a function inside an if block at module level is still found
        ("if True:\n" + _function(MAX_LINES + 1, indent="    "), [("f", MAX_LINES + 1)]),
    ],
)
def test_the_check_itself(source: str, flagged: list[tuple[str, int]]) -> None:
    assert long_functions(source) == flagged


def test_the_walk_leaves_out_migrations_only() -> None:
    found = modules()
    assert not any("migrations" in p.parts for p in found)
    assert (ROOT / "bot" / "db" / "migrations").is_dir()
    assert ROOT / "bot" / "services" / "counter" / "purchases.py" in found
