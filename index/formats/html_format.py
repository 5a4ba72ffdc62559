"""HTML pages (exported wikis, Confluence and Google Docs exports) as blocks of prose.

Parsed with Beautiful Soup on Python's own ``html.parser`` (no compiled dependency, forgiving of
the broken markup exports are full of). The page's ``<title>`` is the title and its canonical
URL (``<link rel="canonical">``, else ``og:url``) the url. Boilerplate is dropped: scripts,
styles, navigation, site headers and footers, forms, comments. Headings ``h1``-``h6`` form the
section path; code (``pre``) is not prose; a table row becomes "column: value; ..." like in
Markdown. Inline markup becomes its text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from index.formats import Block, Parsed, row_text

_DROPPED = frozenset(
    {
        "script",
        "style",
        "noscript",
        "template",
        "nav",
        "footer",
        "form",
        "iframe",
        "svg",
        "button",
        "select",
        "textarea",
        "aside",
        "head",
        "pre",
        "canvas",
        "object",
        "embed",
    }
)
_BOILERPLATE_ROLES = frozenset({"navigation", "banner", "contentinfo", "search", "complementary"})
_HEADINGS = {f"h{n}": n for n in range(1, 7)}
_BLOCKS = frozenset(
    {
        "p",
        "div",
        "section",
        "article",
        "main",
        "body",
        "html",
        "ul",
        "ol",
        "li",
        "dl",
        "dt",
        "dd",
        "blockquote",
        "figure",
        "figcaption",
        "header",
        "table",
        "thead",
        "tbody",
        "tfoot",
        "tr",
        "td",
        "th",
        "caption",
        "hr",
        "br",
        "address",
        "details",
        "summary",
        "center",
        *_HEADINGS,
    }
)
_WHITESPACE = re.compile(r"\s+")


def read_html(text: str) -> Parsed:
    """The prose of an HTML page, with its title, canonical url and section headings."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(text, "html.parser")
    title = _clean(soup.title.get_text()) if soup.title else ""
    url = _canonical_url(soup)
    _drop_boilerplate(soup)
    root = soup.find("main") or soup.find("article") or soup.body or soup
    blocks = tuple(_walk(root, []))
    return Parsed(blocks=blocks, title=title, url=url)


def html_blocks(fragment: str, section: list[tuple[int, str]]) -> list[Block]:
    """Blocks of an HTML fragment embedded in Markdown; headings in it extend ``section``."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(fragment, "html.parser")
    _drop_boilerplate(soup)
    return list(_walk(soup, section))


def _canonical_url(soup: Any) -> str:
    for link in soup.find_all("link", href=True):
        rel = link.get("rel") or []
        if "canonical" in (rel if isinstance(rel, list) else str(rel).split()):
            return str(link["href"]).strip()
    og = soup.find("meta", attrs={"property": "og:url"})
    return str(og.get("content", "")).strip() if og else ""


def _drop_boilerplate(soup: Any) -> None:
    from bs4 import Comment, Declaration, Doctype, ProcessingInstruction

    for node in soup.find_all(
        string=lambda s: isinstance(s, (Comment, Declaration, Doctype, ProcessingInstruction))
    ):
        node.extract()
    for element in soup.find_all(True):
        if element.decomposed:
            continue
        role = str(element.get("role") or "").lower()
        hidden = element.get("hidden") is not None or element.get("aria-hidden") == "true"
        # A page's own <header> is site chrome; one inside an article is the article's.
        site_header = element.name == "header" and element.find_parent(("article", "main")) is None
        if element.name in _DROPPED or role in _BOILERPLATE_ROLES or hidden or site_header:
            element.decompose()


def _walk(element: Any, section: list[tuple[int, str]]) -> Iterator[Block]:
    """Blocks in document order: runs of inline content between block-level children."""
    from bs4 import NavigableString, Tag

    inline: list[str] = []
    item = getattr(element, "name", "") == "li"

    def flush() -> Iterator[Block]:
        text = _clean(" ".join(inline))
        inline.clear()
        if text:
            yield Block(text, tuple(title for _, title in section), item=item)

    for child in element.children:
        if isinstance(child, NavigableString):
            inline.append(str(child))
            continue
        if not isinstance(child, Tag):
            continue
        name = child.name
        if name not in _BLOCKS:
            inline.append(child.get_text())
            continue
        yield from flush()
        if name in _HEADINGS:
            heading = _clean(child.get_text(" "))
            if heading:
                level = _HEADINGS[name]
                while section and section[-1][0] >= level:
                    section.pop()
                section.append((level, heading))
        elif name == "table":
            yield from _table(child, section)
        elif name != "br" and name != "hr":
            yield from _walk(child, section)
    yield from flush()


def _table(table: Any, section: list[tuple[int, str]]) -> Iterator[Block]:
    """Each body row as "column: value; column: value." (header cells name the columns)."""
    rows = [
        [_clean(cell.get_text(" ")) for cell in row.find_all(("td", "th"))]
        for row in table.find_all("tr")
    ]
    rows = [row for row in rows if any(row)]
    if not rows:
        return
    first = table.find("tr")
    has_header = first is not None and first.find("th") is not None and first.find("td") is None
    header = rows[0] if has_header else []
    for row in rows[1:] if has_header else rows:
        yield Block(row_text(header, row), tuple(title for _, title in section))


def _clean(text: str) -> str:
    return _WHITESPACE.sub(" ", text).strip()
