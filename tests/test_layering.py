"""The import directions that keep the house honest (see STYLE.md's layout map)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMPOSITION_ROOT = ROOT / "bot" / "app.py"


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def top(module: str) -> str:
    return module.split(".")[0]


def python_files(folder: str) -> list[Path]:
    files = sorted((ROOT / folder).rglob("*.py"))
    assert files, f"no Python files under {folder}"
    return files


def test_bot_imports_handlers_and_jobs_only_in_the_composition_root() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for path in python_files("bot")
        if path != COMPOSITION_ROOT and {top(m) for m in imports_of(path)} & {"handlers", "jobs"}
    ]
    assert offenders == []


def test_handlers_and_jobs_never_import_each_other() -> None:
    offenders = [
        str(p.relative_to(ROOT)) for p in python_files("handlers") if "jobs" in map(top, imports_of(p))
    ]
    offenders += [
        str(p.relative_to(ROOT)) for p in python_files("jobs") if "handlers" in map(top, imports_of(p))
    ]
    assert offenders == []


def test_storage_and_news_never_import_telegram() -> None:
    files = python_files("bot/storage") + python_files("bot/news")
    offenders = [str(p.relative_to(ROOT)) for p in files if "telegram" in map(top, imports_of(p))]
    assert offenders == []
