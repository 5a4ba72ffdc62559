"""The format readers, one probe from issue 14's "What was seen" list per test.

Each test parses a small document through ``index.corpus.parse_document`` (the path every file
takes) and checks the paragraphs, sections and titles a citation would show.
"""

from __future__ import annotations

from pathlib import Path

from index.corpus import load_documents, parse_document
from index.formats.html_format import read_html
from index.formats.pdf_format import read_pdf
from tests.support.documents import make_pdf


def md(text: str, doc_id: str = "guide"):  # type: ignore[no-untyped-def]
    return parse_document(text, doc_id=doc_id, suffix=".md")


def texts(document) -> list[str]:  # type: ignore[no-untyped-def]
    return [p.text for p in document.paragraphs]


def quotes(document) -> list[str]:  # type: ignore[no-untyped-def]
    return [s.text for p in document.paragraphs for s in p.sentences]


# -- Markdown --------------------------------------------------------------------------------


def test_short_line_without_full_stop_is_a_quotable_paragraph() -> None:
    document = md("# Install\n\nHTTPX requires Python 3.9+\n\nInstall it with pip.\n")
    assert texts(document) == ["HTTPX requires Python 3.9+", "Install it with pip."]
    assert "HTTPX requires Python 3.9+" in quotes(document)


def test_inline_code_starting_with_a_dot_does_not_end_a_sentence() -> None:
    document = md("Credentials come from the `.netrc` config file by default. Turn it off.\n")
    assert quotes(document) == [
        "Credentials come from the `.netrc` config file by default.",
        "Turn it off.",
    ]


def test_admonitions_are_prose_without_their_markers() -> None:
    document = md(
        "# Settings\n\n"
        "!!! note\n    The `--reload` and `--workers` flags are mutually exclusive.\n\n"
        '!!! warning "Only trust clients you can actually trust!"\n    Proxies can lie.\n'
    )
    assert texts(document) == [
        "The `--reload` and `--workers` flags are mutually exclusive.",
        "Only trust clients you can actually trust!",
        "Proxies can lie.",
    ]
    assert not any("!" in t[:2] or "note" == t.lower() for t in texts(document))


def test_table_rows_become_column_value_sentences() -> None:
    document = md(
        "## Limits\n\n| Setting | Default | Meaning |\n| --- | --- | --- |\n"
        "| `max_connections` | 100 | Most open connections. |\n"
        "| `keepalive_expiry` | 5.0 | Idle seconds before closing |\n"
    )
    assert texts(document) == [
        "Setting: `max_connections`; Default: 100; Meaning: Most open connections.",
        "Setting: `keepalive_expiry`; Default: 5.0; Meaning: Idle seconds before closing.",
    ]
    assert {p.heading for p in document.paragraphs} == {"Limits"}


def test_links_and_emphasis_become_their_text_and_images_go() -> None:
    document = md(
        "See the [settings documentation](settings.md) for **every** _option_. ![logo](logo.png)\n"
    )
    assert texts(document) == ["See the settings documentation for every option."]


def test_html_comments_and_html_headings_are_not_markup_in_titles() -> None:
    document = md(
        '<!-- generated: do not edit -->\n<h1 align="center">\n  <img src="logo.png">\n</h1>\n\n'
        '<p align="center"><em>A next-generation HTTP client.</em></p>\n\n'
        "## Features\n\nIt is fast.\n",
        doc_id="readme",
    )
    assert document.title == "Readme"
    assert texts(document) == ["A next-generation HTTP client.", "It is fast."]
    assert all("<" not in p.heading and "generated" not in p.heading for p in document.paragraphs)


def test_title_is_front_matter_then_first_h1_then_file_name() -> None:
    assert md("## Client\n\nText here.\n", doc_id="advanced/timeouts").title == "Timeouts"
    assert md("## Intro\n\nText.\n\n# Real Title\n\nMore.\n").title == "Real Title"
    assert md("---\ntitle: Set\n---\n# Other\n\nText.\n").title == "Set"


def test_list_item_keeps_its_parenthesised_default() -> None:
    document = md(
        "* `max_connections` - maximum number of allowable connections. (Default 100)\n"
        "* `--port <int>` - Bind to this port. **Default:** *8000*.\n"
    )
    assert quotes(document) == [
        "`max_connections` - maximum number of allowable connections. (Default 100)",
        "`--port <int>` - Bind to this port. Default: 8000.",
    ]


def test_unclosed_code_fence_keeps_the_rest_of_the_file_and_warns() -> None:
    document = md("# Use\n\n```python\nclient.get(url)\n\nThe response holds the body.\n")
    assert "The response holds the body." in texts(document)
    assert "client.get(url)" in texts(document)  # read as prose, since the fence never ends
    assert document.warnings and "line 3" in document.warnings[0]


def test_fence_without_a_blank_line_before_it_is_not_prose() -> None:
    document = md("Run this:\n```bash\npip install httpx\n```\nThen import it.\n")
    assert texts(document) == ["Run this:", "Then import it."]


def test_sections_are_heading_paths() -> None:
    document = md("# Guide\n\n## Proxies\n\n### SOCKS\n\nUse socks5.\n\n## Timeouts\n\nFive.\n")
    assert [p.heading for p in document.paragraphs] == [
        "Guide › Proxies › SOCKS",
        "Guide › Timeouts",
    ]


def test_content_tabs_keep_their_body_and_drop_the_label() -> None:
    document = md('=== "pip"\n\n    Install with pip, the usual way.\n')
    assert texts(document) == ["Install with pip, the usual way."]


# -- plain text ------------------------------------------------------------------------------


def test_txt_short_line_is_a_heading_only_when_body_text_follows() -> None:
    text = (
        "Getting Started\n\n"
        "This guide walks you through the first steps of using the tool.\n\n"
        "Requires Python 3.9 or newer\n\n"
        "Install it with pip and run the command.\n\n"
        "Final Words\n"
    )
    document = parse_document(text, doc_id="notes")
    assert texts(document) == [
        "This guide walks you through the first steps of using the tool.",
        "Requires Python 3.9 or newer",
        "Install it with pip and run the command.",
        "Final Words",
    ]
    assert document.paragraphs[0].heading == "Getting Started"
    assert document.title == "Getting Started"


# -- HTML ------------------------------------------------------------------------------------

PAGE = """<!doctype html>
<html><head><title>Expenses · Handbook</title>
<link rel="canonical" href="https://wiki.example.com/handbook/expenses">
<style>body { color: red }</style><script>var tracking = "do not index";</script></head>
<body>
<nav><a href="/">Home</a> | <a href="/hr">HR</a></nav>
<header><p>Acme intranet</p></header>
<main>
<h1>Expenses</h1>
<p>File every <b>expense report</b> within thirty days of the purchase.</p>
<h2>Travel</h2>
<div>Book flights through the travel desk.<p>Economy class is the default.</p></div>
<pre>curl https://api.example.com</pre>
<table><tr><th>Item</th><th>Limit</th></tr><tr><td>Hotel</td><td>150 EUR</td></tr></table>
<!-- internal note -->
</main>
<footer>© Acme</footer>
</body></html>"""


def test_html_keeps_prose_and_sections_and_drops_boilerplate() -> None:
    parsed = read_html(PAGE)
    assert (parsed.title, parsed.url) == (
        "Expenses · Handbook",
        "https://wiki.example.com/handbook/expenses",
    )
    assert [(b.text, b.section) for b in parsed.blocks] == [
        ("File every expense report within thirty days of the purchase.", ("Expenses",)),
        ("Book flights through the travel desk.", ("Expenses", "Travel")),
        ("Economy class is the default.", ("Expenses", "Travel")),
        ("Item: Hotel; Limit: 150 EUR.", ("Expenses", "Travel")),
    ]


# -- PDF -------------------------------------------------------------------------------------


def test_pdf_blocks_know_their_page_and_section(tmp_path: Path) -> None:
    path = make_pdf(
        tmp_path / "report.pdf",
        [
            [
                "Sales grew by twelve percent in the northern region during the",
                "spring quarter, driven by new retail partners.",
                "Costs were flat.",
            ],
            [
                "Outlook",
                "The board expects hiring to resume in the autumn once the new",
                "warehouse opens in Leeds.",
            ],
        ],
        title="Acme Report",
        outline=[("Results", 0)],
    )
    parsed = read_pdf(path.read_bytes())
    assert parsed.title == "Acme Report"
    assert [(b.page, b.section) for b in parsed.blocks] == [
        (1, ("Results",)),
        (1, ("Results",)),
        (2, ("Results", "Outlook")),
    ]
    documents, _ = load_documents([path])
    [document] = documents
    assert [(p.page, p.page_paragraph) for p in document.paragraphs] == [(1, 1), (1, 2), (2, 1)]
    assert document.url == path.resolve().as_uri()
