"""The sandbox an owner's own broadcast text runs in: Jinja2's SandboxedEnvironment,
autoescaped and strict, with a budget.

The owner writes plain text with placeholders; nothing in it may make customer data
markup or take the bot down:
- ``safe`` (and ``{% autoescape false %}``) are refused: a customer named
  ``<a href=...>`` would otherwise send a live link;
- a render has a time budget (``RENDER_BUDGET_S``, checked at every loop step and every
  output chunk) and a size cap (``MAX_OUTPUT``), and ``'x' * 200000000`` or a list
  multiplied into millions is refused before it is built, so one text cannot block the
  loop for seconds per customer; the whole check runs in a worker thread anyway
  (``broadcast_text.check_all_async``);
- whatever else the text raises (``balance / 0``, a recursive macro) is the text's
  failure, reported per customer like an unknown placeholder.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

from jinja2 import StrictUndefined, nodes
from jinja2.exceptions import SecurityError, TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment

RENDER_BUDGET_S = 0.1  # one customer's message
MAX_OUTPUT = 20_000  # characters a render may produce (Telegram takes 4096)
MAX_RANGE = 10_000
_SIZED_OPS = frozenset({"*", "+", "**"})
_DROPPED_FILTERS = ("safe", "center", "indent", "wordwrap", "format", "xmlattr")


class BudgetExceeded(RuntimeError):
    """The text took longer than its budget, or produced too much."""


class _Deadline(threading.local):
    """Per thread: the check renders in a worker thread while a launch may render on the
    event loop."""

    def __init__(self) -> None:
        self.at = float("inf")

    def check(self) -> None:
        if time.monotonic() > self.at:
            raise BudgetExceeded(f"the message takes over {RENDER_BUDGET_S:g} s to render")


def _refused(name: str) -> Any:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise SecurityError(f"the {name} filter is not allowed in a broadcast")

    return refuse


class OwnerSandbox(SandboxedEnvironment):
    intercepted_binops = _SIZED_OPS

    def __init__(self) -> None:
        super().__init__(autoescape=True, undefined=StrictUndefined)
        self.deadline = _Deadline()
        for name in _DROPPED_FILTERS:
            self.filters[name] = _refused(name)
        self.globals.pop("lipsum", None)
        self.globals["range"] = self._range

    def compile_owner(self, source: str) -> Any:
        """The owner's text as a template; ``{% autoescape %}`` blocks are refused (they
        could turn escaping off)."""
        tree = self.parse(source)
        if any(True for _ in tree.find_all(nodes.EvalContextModifier)):
            raise TemplateSyntaxError("autoescape blocks are not allowed", 1)
        return self.from_string(tree)

    def _range(self, *args: int) -> Iterator[int]:
        steps = range(*args)
        if len(steps) > MAX_RANGE:
            raise SecurityError(f"range over {MAX_RANGE} steps is not allowed")
        for step in steps:
            self.deadline.check()
            yield step

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        self.deadline.check()
        if operator == "**" and isinstance(right, int) and abs(right) > 64:
            raise SecurityError("a power over 64 is not allowed")
        if operator == "*" and _repeated_length(left, right) > MAX_OUTPUT:
            raise SecurityError("the result would be too long")
        return super().call_binop(context, operator, left, right)

    def call(self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        self.deadline.check()
        return super().call(__context, __obj, *args, **kwargs)


def _repeated_length(left: Any, right: Any) -> int:
    """The length of ``left * right`` when it repeats a sequence, else 0."""
    if isinstance(left, int) and hasattr(right, "__len__"):
        left, right = right, left
    if isinstance(right, int) and hasattr(left, "__len__"):
        return len(left) * right
    return 0


def render_within_budget(env: OwnerSandbox, template: Any, context: dict[str, Any]) -> str:
    """``template`` rendered chunk by chunk under the time budget and the size cap."""
    env.deadline.at = time.monotonic() + RENDER_BUDGET_S
    try:
        parts: list[str] = []
        size = 0
        for chunk in template.generate(**context):
            size += len(chunk)
            if size > MAX_OUTPUT:
                raise BudgetExceeded(f"the message is over {MAX_OUTPUT} characters")
            env.deadline.check()
            parts.append(chunk)
        return "".join(parts)
    finally:
        env.deadline.at = float("inf")
