"""Secrets kept out of anything a server says back: the API key, any ``Bearer …`` token, the
password of an endpoint URL.

A server may echo the request's ``Authorization`` header in a 401/500 body or even in streamed
text. Every server string goes through a :class:`Redactor` before it is shown or logged; streamed
text through a :class:`StreamRedactor`, which holds back the few characters at the end of a
chunk that could be the start of a secret split across chunks.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit

from rltop.core.lazyre import lazy

REDACTED = "‹redacted›"
#: RFC 6750 token characters
_BEARER = lazy(r"(Bearer\s+)[A-Za-z0-9\-._~+/]+=*", re.IGNORECASE)
#: the end of a text that may be a ``Bearer`` token still arriving
_BEARER_TAIL = lazy(r"B(?:e(?:a(?:r(?:e(?:r(?:\s+[A-Za-z0-9\-._~+/=]*)?)?)?)?)?)?\Z", re.I)
#: held back at most this much (a longer "token" is shown once redacted)
MAX_HOLD = 4096
#: secrets shorter than this are not redacted (they would blank out ordinary words)
MIN_SECRET = 4


class Redactor:
    """Replaces each secret, and every ``Bearer`` token, by ``‹redacted›``."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        self.secrets = sorted(
            {s for s in secrets if s and len(s) >= MIN_SECRET}, key=len, reverse=True
        )

    def text(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return _BEARER.sub(lambda m: m.group(1) + REDACTED, text)

    def cut(self, text: str) -> int:
        """Where the part of ``text`` that is safe to redact and show now ends: before a tail
        that could begin a secret or a ``Bearer`` token, and never inside a whole secret."""
        cut = len(text)
        for secret in self.secrets:
            for n in range(min(len(secret) - 1, len(text)), 0, -1):
                if text.endswith(secret[:n]):
                    cut = min(cut, len(text) - n)
                    break
        window = max(0, len(text) - MAX_HOLD)
        found = _BEARER_TAIL.search(text, window)
        if found:
            cut = min(cut, found.start())
        moved = True
        while moved:  # a whole secret that the cut would split goes after it
            moved = False
            for secret in self.secrets:
                start = text.rfind(secret, max(0, cut - len(secret) + 1), cut + len(secret) - 1)
                if start != -1 and start < cut < start + len(secret):
                    cut, moved = start, True
        return cut

    def stream(self) -> StreamRedactor:
        return StreamRedactor(self)


class StreamRedactor:
    """Redacts text that arrives in pieces: :meth:`feed` each piece, :meth:`flush` at the end."""

    def __init__(self, redactor: Redactor) -> None:
        self.redactor = redactor
        self.held = ""

    def feed(self, piece: str) -> str:
        text = self.held + piece
        cut = self.redactor.cut(text)
        self.held = text[cut:]  # raw, in memory only: redacted when it is let out
        return self.redactor.text(text[:cut])

    def flush(self) -> str:
        text, self.held = self.redactor.text(self.held), ""
        return text


def mask_url(url: str | None) -> str | None:
    """``http://user:secret@host/v1`` -> ``http://user:***@host/v1``: a URL as it may be shown
    (``rltop config``, the chat bar); the password never is. Other URLs are unchanged."""
    if not url or "@" not in url:
        return url
    try:
        parts = urlsplit(url)
        userinfo, at, host = parts.netloc.rpartition("@")
    except ValueError:
        return url
    if not at:
        return url
    user, colon, _password = userinfo.partition(":")
    masked = f"{user}:***" if colon else "***" if not parts.password and user else user
    return urlunsplit(parts._replace(netloc=f"{masked}@{host}"))
