"""Splitting a paragraph into verbatim sentences, in time linear in its length.

pysbd knows abbreviations, quotes and numbers, but it is quadratic in the length of what it is
given and it reads punctuation inside code (`` `.netrc` ``) as a sentence end. So:

* inline code spans and URLs are *masked* (replaced by letters of the same length) before pysbd
  sees the text, and the cut points it finds are applied to the original text, which therefore
  comes back verbatim, character for character;
* a long paragraph is cut into windows of at most ``WINDOW_CHARS`` (at a sentence end when there
  is one) and each window is split on its own, so a 2 MB paragraph costs 1,000 small calls
  instead of one enormous one;
* the pieces between cut points cover the whole paragraph, so nothing pysbd drops is lost, and
  a piece that is no answer on its own ("(Default 100)", "**Default:** 5.") stays with the
  sentence before it;
* a sentence longer than ``MAX_SENTENCE_CHARS`` (a paragraph without punctuation) is cut at
  word boundaries into pieces marked with an ellipsis, so no quote is longer than that.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

WINDOW_CHARS = 4000
# The model reads at most 256 word pieces (about 1,000 characters): a longer quote is not
# searched any better, only harder to read in chat.
MAX_SENTENCE_CHARS = 1000
ELLIPSIS = "…"
# "Label: value." pieces up to this many words continue the sentence before them.
LABEL_MAX_WORDS = 3

# A paragraph with no sentence-ending mark before its last character is one sentence; half of
# a typical corpus is, and pysbd takes about a millisecond per paragraph to say so.
_SENTENCE_END = re.compile(r"[.!?…]")
_MASKED = re.compile(r"`[^`\n]+`|\bhttps?://\S+|\b\w+(?:\.\w+)+\(\)")
_WINDOW_BREAK = re.compile(r"[.!?…][\"'”’)\]]*\s+")
_LABEL = re.compile(r"^[*_]*\w+[*_]*:")
_segmenter: Any = None


def split_sentences(paragraph: str, *, tick: Callable[[], None] | None = None) -> list[str]:
    """Split a paragraph into verbatim sentences; ``tick`` is called once per window."""
    text = paragraph.strip()
    if not text:
        return [paragraph] if paragraph else []
    if not _SENTENCE_END.search(text[:-1]):
        return _cap(text)
    masked = _MASKED.sub(lambda m: "x" * len(m.group(0)), text)
    cuts: list[int] = []
    for start, end in _windows(masked):
        cuts.extend(start + cut for cut in _cut_points(masked[start:end]))
        cuts.append(end)
        if tick is not None:
            tick()
    spans: list[list[int]] = []  # [start, end] of each sentence in ``text``
    previous = 0
    for cut in sorted(set(cuts)):
        piece = text[previous:cut]
        if piece.strip():
            if spans and _is_fragment(piece):
                spans[-1][1] = cut  # verbatim: the span grows, the text is never rebuilt
            else:
                spans.append([previous, cut])
        previous = cut
    pieces = [text[start:end].strip() for start, end in spans]
    return [capped for piece in pieces for capped in _cap(piece)] or [text]


def _windows(text: str) -> list[tuple[int, int]]:
    """Consecutive (start, end) spans of at most WINDOW_CHARS, ending at a sentence end or a
    space when one is found in the window's second half."""
    spans = []
    start = 0
    while len(text) - start > WINDOW_CHARS:
        limit = start + WINDOW_CHARS
        end = 0
        for match in _WINDOW_BREAK.finditer(text, start + WINDOW_CHARS // 2, limit):
            end = match.end()
        if not end:
            space = text.rfind(" ", start + WINDOW_CHARS // 2, limit)
            end = space + 1 if space > 0 else limit
        spans.append((start, end))
        start = end
    spans.append((start, len(text)))
    return spans


def _cut_points(window: str) -> list[int]:
    """Where pysbd ends each sentence of ``window`` (offsets into it)."""
    global _segmenter
    if _segmenter is None:
        import pysbd  # imported lazily: only index builds need it

        _segmenter = pysbd.Segmenter(language="en", clean=False, char_span=True)
    return [span.end for span in _segmenter.segment(window)]


def _is_fragment(piece: str) -> bool:
    """A parenthesis ("(Default 100)") or a short label ("Default: 8000.") after a sentence
    says something about that sentence and is no answer on its own."""
    piece = piece.strip()
    if piece.startswith(("(", "[")):
        return True
    return len(piece.split()) <= LABEL_MAX_WORDS and bool(_LABEL.match(piece))


def _cap(sentence: str) -> list[str]:
    """``sentence`` itself, or pieces of at most MAX_SENTENCE_CHARS cut between words, each
    marked with an ellipsis where it was cut."""
    if len(sentence) <= MAX_SENTENCE_CHARS:
        return [sentence]
    room = MAX_SENTENCE_CHARS - 2 * (len(ELLIPSIS) + 1)
    pieces = []
    start = 0
    while start < len(sentence):
        end = min(len(sentence), start + room)
        if end < len(sentence):
            space = sentence.rfind(" ", start + room // 2, end)
            end = space if space > 0 else end
        pieces.append(sentence[start:end].strip())
        start = end
    pieces = [p for p in pieces if p]
    last = len(pieces) - 1
    return [
        ("" if i == 0 else f"{ELLIPSIS} ") + piece + ("" if i == last else f" {ELLIPSIS}")
        for i, piece in enumerate(pieces)
    ]
