"""Plain-text rendering of answers for the terminal: pure functions of the core's types."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

from retrieval.answer import Answer, Citation

WIDTH = 100


def render_answer(answer: Answer) -> str:
    """The answer's sentences with their markers, then the numbered sources; first, how a
    follow-up question was read ("(read as: What did Biden say about Taiwan?)")."""
    body = textwrap.fill(answer.text, WIDTH)
    if answer.understood_as:
        body = f"{render_reading(answer)}\n{body}"
    if answer.abstained:
        return body
    sources = "\n".join(_source_line(c) for c in answer.citations)
    return f"{body}\n\nSources:\n{sources}"


def render_reading(answer: Answer) -> str:
    """ "(read as: ...)" for a question read with the conversation so far, else ""."""
    return f"(read as: {answer.understood_as})" if answer.understood_as else ""


def render_citations(citations: Sequence[Citation]) -> str:
    """A numbered list of quotes with where each comes from."""
    blocks = []
    for c in citations:
        quote = textwrap.fill(c.quote, WIDTH, initial_indent=f"[{c.n}] ", subsequent_indent="    ")
        section = f" › {c.section}" if c.section else ""
        blocks.append(f"{quote}\n    — {c.title}{section}, {c.where} ({c.doc}:{c.paragraph})")
    return "\n".join(blocks)


def render_quotes(answer: Answer) -> str:
    """Statements attributed to someone, numbered; or why there are none."""
    return render_citations(answer.citations) if answer.citations else answer.text


def render_source(answer: Answer) -> str:
    """One requested paragraph with its reference and heading."""
    if not answer.citations:
        return answer.text
    cited = answer.citations[0]
    heading = f"{cited.section}\n" if cited.section else ""
    text = textwrap.fill(cited.quote, WIDTH)
    return f"{cited.title} · {cited.doc}:¶{cited.paragraph}\n{heading}\n{text}"


def _source_line(citation: Citation) -> str:
    section = f" › {citation.section}" if citation.section else ""
    line = (
        f"  [{citation.n}] {citation.title}{section} {citation.where} "
        f"({citation.doc}:{citation.paragraph}) · score {citation.score:.2f}"
    )
    if citation.link:
        line += f"\n      {citation.link}"
    return line
