"""Text as typed → safe HTML: everything escaped, URLs made links. The one place to
swap the sanitizer.

No markup a user types survives: the text is HTML-escaped first, then bleach's
linkify filter (one Cleaner built at import, as building one costs more than
cleaning a chat line) turns bare URLs into anchors with rel="nofollow noopener".
"""

from __future__ import annotations

import html

from bleach.linkifier import LinkifyFilter
from bleach.sanitizer import Cleaner

LINK_PROTOCOLS = frozenset({"http", "https", "mailto"})


def _link_attributes(attrs: dict, new: bool = False) -> dict | None:
    href_key = (None, "href")
    href = attrs.get(href_key, "")
    scheme = href.split(":", 1)[0].lower() if ":" in href else ""
    if scheme not in LINK_PROTOCOLS:
        return None  # not a link we make: leave the text as text
    attrs[(None, "rel")] = "nofollow noopener"
    attrs[(None, "target")] = "_blank"
    return attrs


_cleaner = Cleaner(
    tags={"a"},
    attributes={"a": ["href", "rel", "target"]},
    protocols=LINK_PROTOCOLS,
    strip=False,
    filters=[
        lambda source: LinkifyFilter(
            source, callbacks=[_link_attributes], skip_tags=None, parse_email=False
        )
    ],
)


def render_body(text: str) -> str:
    """The safe HTML `body` of a message whose `text` is as typed."""
    # Escaping first means the only tags in the cleaner's input are the anchors
    # linkify creates: a user's "<a href=...>" arrives as text and stays text.
    return _cleaner.clean(html.escape(text, quote=False))
