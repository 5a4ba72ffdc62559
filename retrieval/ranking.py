"""Ranking: weigh dense and lexical evidence into one score per sentence, then compose.

Pure functions, no I/O. Every candidate sentence gets an :class:`Evidence` record of calibrated
signals, each on a scale that means the same thing for any question and corpus size:

* cosine similarity of the question to the sentence and to its paragraph (context counts for
  short sentences);
* BM25 over sentences and over paragraphs, as a share of the question's attainable score
  (see ``lexical.LexicalHit``);
* whether the sentence is attributed to the speaker the question asks about;
* whether it holds the kind of thing the question asks for (a time, a duration, a number).

A weighted sum combines them, discounted for a sentence that cannot be what the question asks
for: no time for "when", not attributed to the speaker of "what did X say". Weights rather
than reciprocal-rank fusion, because ranks throw away how *much* better the first candidate
is: a sentence that holds every rare word of the question should beat one that shares only
"call" with it, even if both top some list.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

# Meaning carries most weight (it handles paraphrase); shared rare words confirm it; the
# paragraph terms keep the choice inside the passage that is about the question.
W_DENSE_SENTENCE = 0.40
W_DENSE_PARAGRAPH = 0.20
W_LEXICAL_SENTENCE = 0.25
W_LEXICAL_PARAGRAPH = 0.15
# Bonuses break ties between topical candidates; they are too small to lift an off-topic one.
W_SPEAKER = 0.12
W_ANSWER_TYPE = 0.08
W_DOCUMENT = 0.10
# "How long was the call?" cannot be answered by a sentence that holds no duration, however
# close its meaning: such sentences keep half their score. (When no candidate holds the kind of
# answer asked for, all are halved alike and the order is what the other signals say.)
UNTYPED_ANSWER_FACTOR = 0.5
# Likewise "What did Xi say…" / "…according to US officials" asks for statements attributed to
# them. Attribution is rule-based and misses some (a second sentence of a quote), so sentences
# not attributed to the speaker asked about lose only a fifth of their score.
UNATTRIBUTED_FACTOR = 0.8
# all-MiniLM-L6-v2 puts unrelated text at cosine 0.0-0.15 from a question; by 0.35 a passage
# is about the same thing. Shared words are trusted linearly in between.
LEXICAL_UNTRUSTED_BELOW = 0.15
LEXICAL_TRUSTED_FROM = 0.35


@dataclass(frozen=True, slots=True)
class Evidence:
    """The signals measured for one candidate sentence."""

    dense_sentence: float = 0.0
    dense_paragraph: float = 0.0
    lexical_sentence: float = 0.0
    lexical_paragraph: float = 0.0
    speaker: bool = False
    wants_speaker: bool = False  # the question asks what a speaker the corpus quotes said
    answer_type: bool = False
    wants_answer_type: bool = False
    document_support: float = 0.0

    @property
    def score(self) -> float:
        lexical = (
            W_LEXICAL_SENTENCE * self.lexical_sentence
            + W_LEXICAL_PARAGRAPH * self.lexical_paragraph
        )
        score = (
            W_DENSE_SENTENCE * self.dense_sentence
            + W_DENSE_PARAGRAPH * self.dense_paragraph
            + lexical * self.lexical_trust
            + W_SPEAKER * self.speaker
            + W_ANSWER_TYPE * self.answer_type
            + W_DOCUMENT * self.document_support
        )
        if self.wants_speaker and not self.speaker:
            score *= UNATTRIBUTED_FACTOR
        return (
            score * UNTYPED_ANSWER_FACTOR
            if self.wants_answer_type and not self.answer_type
            else score
        )

    @property
    def lexical_trust(self) -> float:
        """How far shared words count: fully once the meaning is related, not at all when it
        is unrelated. "call" in "a call to flush()" shares a word with "When was the call?"
        but nothing else; shared words confirm a semantic match, they cannot replace one."""
        span = LEXICAL_TRUSTED_FROM - LEXICAL_UNTRUSTED_BELOW
        return min(1.0, max(0.0, (self.relevance - LEXICAL_UNTRUSTED_BELOW) / span))

    @property
    def relevance(self) -> float:
        """The strongest topical signal: how well the passage matches at all (for abstaining)."""
        return max(self.dense_sentence, self.dense_paragraph)

    def reason(self) -> str:
        """Why this sentence was chosen, in words."""
        parts = [
            f"meaning {self.dense_sentence:.2f} (paragraph {self.dense_paragraph:.2f})",
            f"shared words {self.lexical_sentence:.2f} (paragraph {self.lexical_paragraph:.2f})",
        ]
        if self.speaker:
            parts.append("attributed to the speaker asked about")
        if self.answer_type:
            parts.append("holds the kind of answer asked for")
        return "; ".join(parts)


@dataclass(frozen=True, slots=True)
class Ranked:
    """A sentence row with its evidence and score."""

    row: int
    evidence: Evidence

    @property
    def score(self) -> float:
        return self.evidence.score


def rank(candidates: dict[int, Evidence]) -> list[Ranked]:
    """Candidates best first (ties by row, so results are stable)."""
    ranked = [Ranked(row, evidence) for row, evidence in candidates.items()]
    ranked.sort(key=lambda r: (-r.score, r.row))
    return ranked


def select_sentences(
    ranked: Sequence[Ranked],
    *,
    texts: Sequence[str],
    paragraph_of: Sequence[int],
    max_sentences: int = 3,
    same_paragraph_ratio: float = 0.8,
    other_paragraph_ratio: float = 0.9,
) -> list[Ranked]:
    """The best sentence, plus up to ``max_sentences - 1`` others nearly as good.

    A runner-up is kept when its score is close to the best one's: from the same paragraph
    (usually the rest of the same statement) within ``same_paragraph_ratio``, from elsewhere
    (a second source saying the same) only within the stricter ``other_paragraph_ratio``. A tail
    of weaker matches would only dilute the answer. Duplicate texts are skipped.
    """
    if not ranked:
        return []
    best = ranked[0]
    chosen = [best]
    seen = {texts[best.row]}
    for candidate in ranked[1:]:
        if len(chosen) >= max_sentences or candidate.score < same_paragraph_ratio * best.score:
            break
        same_paragraph = paragraph_of[candidate.row] == paragraph_of[best.row]
        if not same_paragraph and candidate.score < other_paragraph_ratio * best.score:
            continue
        if texts[candidate.row] in seen:
            continue
        chosen.append(candidate)
        seen.add(texts[candidate.row])
    return chosen
