"""Links as publishers wrote them, and the keys that say when two links are the same page.

Readers always get the link the publisher wrote (`absolute_url` only resolves a relative one).
`url_key` is a matching key and nothing more: it forgets only what does not change the page
(scheme http/https, host case, a default port, tracking parameters, a trailing slash that
servers redirect), never a fragment or the order of the query, which some sites use to tell
stories apart. Two items of one source with different guids are never merged by key.
`normalize_url` is the older, looser form still used to compare HTML pages' own links.
"""

from __future__ import annotations

import logging
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

logger = logging.getLogger(__name__)

# Query parameters that only say where a click came from; they never change the page.
_TRACKING_PARAMS = frozenset(
    {
        "fbclid",
        "gclid",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "yclid",
        "ysclid",
        "igshid",
        "mc_cid",
        "mc_eid",
        "_ga",
        "_gl",
        "_hsenc",
        "_hsmi",
        "mkt_tok",
        "oly_anon_id",
        "oly_enc_id",
        "vero_id",
        "spm",
        "cmpid",
        "ocid",
        "at_medium",
        "at_campaign",
    }
)
_TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "hmb_")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _is_tracking(name: str) -> bool:
    lowered = name.lower()
    return lowered in _TRACKING_PARAMS or lowered.startswith(_TRACKING_PREFIXES)


def normalize_url(url: str, *, base: str | None = None) -> str:
    """Return a canonical absolute form of url (resolved against base when relative)."""
    raw = url.strip()
    if base:
        try:
            raw = urljoin(base.strip(), raw)
        except ValueError:
            return raw
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:
        # A malformed port or bracketed host: keep the string rather than guess.
        return raw
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        # mailto:, tag: URIs and the like are identifiers, not pages; leave them alone.
        return urlunsplit((scheme, parts.netloc, parts.path, parts.query, ""))
    host = parts.hostname.lower().rstrip(".")
    if ":" in host:
        host = f"[{host}]"
    netloc = host
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        netloc = f"{host}:{port}"
    if parts.username is not None:
        userinfo = parts.username + (f":{parts.password}" if parts.password is not None else "")
        netloc = f"{userinfo}@{netloc}"
    path = parts.path or "/"
    if len(path) > 1 and path.endswith("/"):
        path = path.rstrip("/") or "/"
    params = [
        (key, value) for key, value in parse_qsl(parts.query, keep_blank_values=True) if not _is_tracking(key)
    ]
    params.sort()
    query = urlencode(params)
    return urlunsplit((scheme, netloc, path, query, ""))


def absolute_url(url: str, *, base: str | None = None) -> str:
    """Return url as written, resolved against base only when it is relative."""
    raw = url.strip()
    try:
        parts = urlsplit(raw)
    except ValueError:
        return raw
    if parts.scheme and parts.netloc:
        return raw  # already absolute: keep every character the publisher chose
    if not base:
        return raw
    try:
        return urljoin(base.strip(), raw)
    except ValueError:
        return raw


def url_key(url: str) -> str:
    """The matching key of an absolute link: equal keys are the same page (see the module docstring)."""
    raw = url.strip()
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:
        return raw
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return raw
    host = parts.hostname.lower().rstrip(".")
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port is None or port == _DEFAULT_PORTS[scheme] else f"{host}:{port}"
    # Kept verbatim and in order: only whole tracking pairs are dropped.
    kept = [pair for pair in parts.query.split("&") if pair and not _is_tracking(pair.split("=", 1)[0])]
    path = parts.path or "/"
    if len(path) > 1 and path.endswith("/"):
        path = path[:-1]
    key = "//" + netloc + path
    if kept:
        key += "?" + "&".join(kept)
    if parts.fragment:
        key += "#" + parts.fragment
    return key


def host_of(url: str) -> str:
    """Return the lower-cased host of url without port or trailing dot ("" when there is none)."""
    try:
        host = urlsplit(url.strip()).hostname
    except ValueError:
        return ""
    return (host or "").lower().rstrip(".")


def origin_of(url: str) -> tuple[str, str, int] | None:
    """Return (scheme, host, port) of an http(s) URL, the port made explicit; None when there is none."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower().rstrip(".")
    if scheme not in _DEFAULT_PORTS or not host:
        return None
    return scheme, host, port if port is not None else _DEFAULT_PORTS[scheme]
