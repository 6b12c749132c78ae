"""Text as typed → safe HTML: everything escaped, URLs made links. The one place to
swap the sanitizer.

No markup a user types survives: every character of the text is HTML-escaped, and
the only tags in the result are the anchors made here, for the http(s) and mailto
URLs that bleach's URL pattern finds, with rel="nofollow noopener".

The text is never parsed as HTML. It used to be escaped and then run through
bleach's Cleaner with its linkify filter, but bleach reads its input as HTML, and
decoded what it took for character references in it: a member who typed "&lt;3" or
"a &amp; b" was shown "<3" and "a & b". Rendering `body` must show `text` exactly.
"""

from __future__ import annotations

import re
from html import escape

from bleach.linkifier import PROTO_RE, URL_RE

LINK_PROTOCOLS = frozenset({"http", "https", "mailto"})
# Bidirectional controls change the order text is shown in: inside a link they would
# let "example.com/\u202egnp.exe" read as "example.com/exe.png". A URL ends at one,
# and dir="ltr" isolates the link from any override typed before it.
BIDI_CONTROL = re.compile("[\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def render_body(text: str) -> str:
    """The safe HTML `body` of a message whose `text` is as typed."""
    pieces = []
    end = 0
    # bleach's URL pattern: a known top-level domain, with or without a scheme, and a
    # path that stops at spaces, quotes and angle brackets.
    for match in URL_RE.finditer(text):
        start, stop = match.span()
        if bidi := BIDI_CONTROL.search(text, start, stop):
            stop = bidi.start()
        url, prefix, suffix = _trim(text[start:stop])
        href = url if PROTO_RE.search(url) else f"http://{url}"
        if not url or href.split(":", 1)[0].lower() not in LINK_PROTOCOLS:
            continue  # not a link we make: it stays text, escaped with what follows
        pieces += [
            escape(text[end:start] + prefix, quote=False),
            f'<a href="{escape(href)}" rel="nofollow noopener" target="_blank" dir="ltr">',
            escape(url, quote=False),
            "</a>",
            escape(suffix, quote=False),
        ]
        end = stop
    pieces.append(escape(text[end:], quote=False))
    return "".join(pieces)


def _trim(url: str) -> tuple[str, str, str]:
    """The URL without the parentheses and punctuation around it that the pattern takes
    in ("(see example.com/a)." links "example.com/a"), as bleach's linkify does."""
    prefix = suffix = ""
    while url:
        if url.startswith("("):
            prefix += "("
            url = url[1:]
            if url.endswith(")"):
                suffix = ")" + suffix
                url = url[:-1]
        elif (url.endswith(")") and "(" not in url) or url.endswith((",", ".")):
            suffix = url[-1] + suffix
            url = url[:-1]
        else:
            break
    return url, prefix, suffix
