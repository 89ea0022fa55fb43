"""Where the project's own data files live (migrations, the demo site, the example config)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
MIGRATIONS = DATA / "migrations"
DEMO_SITE = DATA / "demo_site"
LOCALES = DATA / "locales"
PRESETS = DATA / "presets"
