"""Lines and sentences of page furniture that must never reach a summary."""

from __future__ import annotations

import re

# Matched against the start of a folded sentence (``bot.text.fold``). Anchored, bounded
# alternations only: linear on any input.
_STARTS = re.compile(
    r"^(?:"
    # calls to subscribe or follow, in our languages
    r"subscribe|follow us|join us on|sign up|click here|share this|download our app|advertisement"
    r"|read (?:also|more|next)|also read|see also|related:|more:|watch:|listen:|video:|photo:|photos:"
    r"|image:|picture:|source:|copyright|all rights reserved|©|\(c\)"
    r"|подписывайтесь|подпишитесь|присоединяйтесь|читайте (?:также|еще|ещё|нас)|смотрите также|реклама"
    r"|фото:|видео:|источник:|по теме:|следите за"
    r"|abunə ol|bizi izləyin|həmçinin oxuyun|həmçinin oxu|daha çox:|oxşar xəbər|foto:|video:|mənbə:"
    r"|abone ol|bizi takip edin|takip edin|ilgili haber|bunları da okuyun|fotoğraf:|kaynak:"
    r"|by\s*\.|published:|updated:|last updated|posted:|опубликовано|обновлено|yayınlanma|güncelleme"
    r")"
)
# Anywhere in a short sentence: credits and channel plugs.
_ANYWHERE = re.compile(
    r"telegram|whatsapp|getty images|reuters/|/reuters|afp photo|ap photo|\(photo|photo by|photo credit"
    r"|фото: |photo: |foto: |©|\(pictured\)|\(file photo\)|pictured above|pictured below"
)
_MAX_PLUG_LENGTH = 200  # a long sentence that mentions Telegram is news, not a plug


def is_boilerplate(folded_sentence: str) -> bool:
    """Whether a folded sentence is page furniture: a plug, a credit, a byline, a "Read also"."""
    text = folded_sentence.strip(" \t-–—•*|")
    if not text or _STARTS.match(text):
        return True
    return len(text) <= _MAX_PLUG_LENGTH and _ANYWHERE.search(text) is not None
