"""Language detection with py3langid, whose model ships inside the package (nothing is downloaded)."""

from __future__ import annotations

import logging
import threading
from typing import Any

logger = logging.getLogger(__name__)

# The declared language (feed, page, flag) wins when the text does not clearly say otherwise:
# a short lead in Azerbaijani and one in Turkish can look alike.
_HINT_MARGIN = 0.2
_SAMPLE = 2000  # characters; more changes nothing and costs time
_lock = threading.Lock()
_identifier: Any = None


def _model() -> Any:
    """Load the model once (about half a second), on first use."""
    global _identifier
    with _lock:
        if _identifier is None:
            from py3langid.langid import MODEL_FILE, LanguageIdentifier

            _identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
        return _identifier


def _base(code: str | None) -> str | None:
    if not code:
        return None
    return code.strip().lower().replace("_", "-").split("-")[0] or None


def detect_language(text: str, hint: str | None = None) -> str | None:
    """The ISO 639-1 code of the text's language; the hint when the text is too short to tell."""
    hint = _base(hint)
    sample = " ".join(text[:_SAMPLE].split())
    if sum(ch.isalpha() for ch in sample) < 12:
        return hint
    ranked = _model().rank(sample)
    best, best_score = ranked[0]
    if hint and hint != best:
        hinted = next((score for lang, score in ranked if lang == hint), 0.0)
        if best_score - hinted < _HINT_MARGIN:
            return hint
    return str(best)
