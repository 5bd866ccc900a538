"""README.md and docs/ say what main does (issue 18, "README for a newcomer").

The README's command table has one row per role and is checked against the one table of
commands per role (``handlers.menu.COMMANDS_BY_ROLE``) both ways; the README stays short;
every path, make target, ``loyalty-bot`` command and config key the documents name exists;
and they point at nothing a reader of this repository does not have.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from bot.cli import app as cli_app
from bot.config import Settings
from bot.services.people.roles import Role
from handlers.menu import COMMANDS_BY_ROLE

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
DOCUMENTS = [README, *DOCS]
MAX_WORDS = 1500

# README rows in order; each role also has the commands of the rows above it.
ROWS = (("customer", Role.CUSTOMER), ("staff", Role.STAFF), ("owner", Role.OWNER))
TABLE_HEADER = re.compile(r"^\| role \| commands\b", re.MULTILINE)
COMMAND = re.compile(r"`/([a-z]+)")


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _command_rows(text: str) -> list[tuple[str, str]]:
    """(role, commands cell) of the README's command table, in order."""
    headers = TABLE_HEADER.findall(text)
    assert len(headers) == 1, f"one command table expected, found {len(headers)}"
    table = text[TABLE_HEADER.search(text).start() :].split("\n\n", 1)[0]  # type: ignore[union-attr]
    rows = []
    for line in table.splitlines()[2:]:  # after the header and the |---| line
        cells = [c.strip() for c in line.replace("\\|", "/").strip("|").split("|")]
        assert len(cells) == 2, line
        rows.append((cells[0], cells[1]))
    return rows


def test_one_row_per_role() -> None:
    rows = _command_rows(_text(README))
    assert [role for role, _ in rows] == [name for name, _ in ROWS]
    # Strangers get the customers' menu; any other role would need its own row.
    assert set(COMMANDS_BY_ROLE) == {Role.STRANGER, *(role for _, role in ROWS)}
    assert COMMANDS_BY_ROLE[Role.STRANGER] == COMMANDS_BY_ROLE[Role.CUSTOMER]


def test_command_rows_match_the_menu_both_ways() -> None:
    """Every command a row lists exists for that role, and every command of a role is in
    its row or a row above it (and nothing more)."""
    listed: set[str] = set()
    for (name, cell), (_, role) in zip(_command_rows(_text(README)), ROWS, strict=True):
        commands = set(COMMAND.findall(cell))
        assert commands, name
        unknown = commands - set(COMMANDS_BY_ROLE[role])
        assert not unknown, f"{name} row lists commands the {name} does not have: {unknown}"
        listed |= commands
        missing = set(COMMANDS_BY_ROLE[role]) - listed
        assert not missing, f"{name}'s commands missing from the README: {sorted(missing)}"


def test_no_other_role_row_anywhere() -> None:
    """The old README had each role's row three or four times."""
    for name, _ in ROWS:
        rows = re.findall(rf"(?m)^\| {name} \|", _text(README))
        assert len(rows) == 1, f"{name}: {len(rows)} rows"


def test_readme_is_short() -> None:
    words = len(_text(README).split())
    assert words < MAX_WORDS, f"README.md has {words} words (under {MAX_WORDS})"


def test_layout_names_every_handler_module_and_service_package() -> None:
    text = _text(ROOT / "docs" / "architecture.md")
    for module in sorted((ROOT / "handlers").glob("*.py")):
        if module.stem != "__init__":
            assert f"`{module.stem}`" in text, f"handlers/{module.name} not in the layout"
    for package in sorted((ROOT / "bot" / "services").glob("*/__init__.py")):
        name = package.parent.name
        assert f"`bot/services/{name}/`" in text, f"bot/services/{name}/ not in the map"
    for module in ("polling", "web", "lease", "scheduler", "jobs", "backup", "delivery/"):
        assert f"`{module}`" in text, f"bot/{module} not in the layout"
    assert "docs/architecture.md" in _text(README), "the README points to the layout's details"


PATH = re.compile(r"`((?:bot|handlers|scoring|tests|bench|templates|docs)/[\w./-]*)`")
LINK = re.compile(r"\]\(([^)#]+)\)")


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.name)
def test_named_paths_and_links_exist(document: Path) -> None:
    text = _text(document)
    for path in PATH.findall(text):
        assert (ROOT / path).exists(), f"{document.name} names {path}, which does not exist"
    for link in LINK.findall(text):
        assert (document.parent / link).exists(), f"{document.name} links to {link}"


def _make_targets() -> set[str]:
    return set(re.findall(r"(?m)^([a-z-]+):", _text(ROOT / "Makefile")))


def _cli_commands() -> set[str]:
    return {c.name or c.callback.__name__ for c in cli_app.registered_commands}  # type: ignore[union-attr]


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.name)
def test_named_commands_exist(document: Path) -> None:
    text = _text(document)
    for target in re.findall(r"`make ([a-z-]+)", text):
        assert target in _make_targets(), f"{document.name}: no make target {target}"
    for command in re.findall(r"`loyalty-bot ([a-z-]+)", text):
        assert command in _cli_commands(), f"{document.name}: no loyalty-bot {command}"
    for module in re.findall(r"python -m bench\.([a-z_]+)", text):
        assert (ROOT / "bench" / f"{module}.py").exists(), f"{document.name}: bench.{module}"


def _model_of(dotted: str) -> type[BaseModel] | None:
    """The settings model a dotted section names (``scoring.lifecycle``), None if none."""
    model: type[BaseModel] = Settings
    for part in dotted.split("."):
        field = model.model_fields.get(part)
        annotation = getattr(field, "annotation", None)
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return None
        model = annotation
    return model


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.name)
def test_named_config_keys_exist(document: Path) -> None:
    """`section.key` and `[section]` name real settings (sections are Settings fields)."""
    text = _text(document)
    for section, key in re.findall(r"`([a-z_]+)\.([a-z_]+)`", text):
        model = _model_of(section)
        if model is not None:  # `scoring.lifecycle` style names a section; both are checked
            assert key in model.model_fields, f"{document.name}: no setting {section}.{key}"
    for section in re.findall(r"`\[([a-z_.]+)(?:\.<kind>)?\]`", text):
        if section not in ("section", "outbox.kinds"):  # a placeholder; a dict of kinds
            assert _model_of(section) is not None, f"{document.name}: no section [{section}]"


# Documents a reader of this repository does not have: the house's spec, the source
# texts by file number, issue numbers, the sibling directory they live in.
UNAVAILABLE = (
    r"SPEC\.md", r"\bseeds? \d", r"\b00\d_[0-9a-f]", r"\bissue \d", r"\.\./shared", r"/work/",
)  # fmt: skip
EXAMPLE = ROOT / "config.example.toml"


@pytest.mark.parametrize("document", [*DOCUMENTS, EXAMPLE], ids=lambda p: p.name)
def test_points_at_nothing_the_reader_does_not_have(document: Path) -> None:
    text = _text(document)
    for pattern in UNAVAILABLE:
        found = re.search(pattern, text)
        assert found is None, f"{document.name}: {found.group(0)!r}"  # type: ignore[union-attr]


def test_readme_and_example_agree_on_the_token() -> None:
    """The environment's BOT_TOKEN is the recommended place; config.toml may hold
    ``bot_token``: both documents say both, and neither says secrets never go there."""
    for document in (README, EXAMPLE, ROOT / "docs" / "configuration.md"):
        text = _text(document)
        assert "BOT_TOKEN" in text and "bot_token" in text, document.name
        assert "recommended" in text, document.name
        assert "never go in this file" not in text, document.name
