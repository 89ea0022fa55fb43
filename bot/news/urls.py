"""URL normalisation, so the same story reached by different links compares equal."""

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


def host_of(url: str) -> str:
    """Return the lower-cased host of url without port or trailing dot ("" when there is none)."""
    try:
        host = urlsplit(url.strip()).hostname
    except ValueError:
        return ""
    return (host or "").lower().rstrip(".")
