"""Ready-made selectors for news sites of a known shape (data/presets/NAME.toml)."""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from bot.news.listing import is_valid_selector
from bot.paths import PRESETS

LISTING_KEYS = frozenset({"item", "title", "link", "time", "kicker", "tag"})
ARTICLE_KEYS = frozenset(
    {"container", "title", "kicker", "time", "category", "author", "body", "image", "read_also"}
)


class PresetError(ValueError):
    """A preset that does not exist or does not say what a preset must."""


@dataclass(frozen=True)
class ArticleSelectors:
    """CSS selectors for the parts of an article page; empty leaves a part to the generic reading."""

    container: str = ""
    title: str = ""
    kicker: str = ""
    time: str = ""
    category: str = ""
    author: str = ""
    body: str = ""
    image: str = ""
    read_also: str = ""


@dataclass(frozen=True)
class Preset:
    """Selectors for a site's ticker list and article pages, and the timezone its times are written in."""

    name: str
    description: str
    timezone: str | None
    listing: dict[str, str] = field(default_factory=dict)
    article: ArticleSelectors = field(default_factory=ArticleSelectors)


def available(folder: Path = PRESETS) -> list[str]:
    """The names of the shipped presets, sorted."""
    return sorted(path.stem for path in folder.glob("*.toml")) if folder.is_dir() else []


@functools.cache
def load(name: str, folder: Path = PRESETS) -> Preset:
    """Read one preset; PresetError names the known ones when it does not exist or is malformed."""
    if name not in available(folder):
        known = ", ".join(available(folder)) or "none"
        raise PresetError(f"unknown preset {name!r}; known presets: {known}")
    raw = tomllib.loads((folder / f"{name}.toml").read_text(encoding="utf-8"))
    listing = raw.get("listing", {})
    article = raw.get("article", {})
    if not isinstance(listing, dict) or not isinstance(article, dict):
        raise PresetError(f"preset {name!r}: [listing] and [article] must be tables")
    unknown = (set(listing) - LISTING_KEYS) | (set(article) - ARTICLE_KEYS)
    if unknown:
        raise PresetError(f"preset {name!r}: unknown keys {', '.join(sorted(unknown))}")
    if not all(isinstance(v, str) for v in (*listing.values(), *article.values())):
        raise PresetError(f"preset {name!r}: every selector must be a string")
    bad = sorted(css for css in (*listing.values(), *article.values()) if css and not is_valid_selector(css))
    if bad:
        raise PresetError(f"preset {name!r}: not CSS selectors: {', '.join(bad)}")
    timezone = raw.get("timezone")
    return Preset(
        name=name,
        description=str(raw.get("description", "")),
        timezone=str(timezone) if timezone else None,
        listing=dict(listing),
        article=ArticleSelectors(**article),
    )
