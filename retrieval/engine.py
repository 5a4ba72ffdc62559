"""The answer engine: a loaded corpus snapshot, hybrid search over it, and cited answers.

``Engine`` is the one object adapters hold. It loads the live index version once (texts for BM25
and citations, from the version's sidecar when the build saved one, else from the store; vectors
stay in the store), re-checks the store's pointer before each question so a re-index is picked
up without a restart, and answers with :func:`Engine.ask`. Everything it decides is delegated
to the pure functions in ``query`` and ``ranking``; this module wires them to the store and the
embedder.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import Counter
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from index.corpus import Paragraph, Sentence
from index.embedder import Embedder
from index.errors import IndexMismatch, IndexMissing, QuestionError
from index.store import DocumentRecord, IndexPointer, VectorHit
from retrieval.answer import Answer, Citation
from retrieval.lexical import LexicalIndex
from retrieval.query import (
    QUESTION_WORDS,
    QueryTerms,
    acronym_pattern,
    analyze_question,
    has_answer_type,
    name_tokens,
)
from retrieval.ranking import Evidence, Ranked, rank, select_sentences
from retrieval.sidecar import lexical_indexes, load_sidecar

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

log = logging.getLogger(__name__)

MAX_QUESTION_CHARS = 1000
DENSE_SENTENCES = 40
# A question asking for a time, duration or number also takes the on-topic sentences holding one
# from this far down the meaning ranking: "When was the call?" resembles "call" in the
# programming sense more than the sentence that says the leaders spoke on Tuesday.
TYPED_DENSE_SENTENCES = 200
DENSE_PARAGRAPHS = 10
LEXICAL_SENTENCES = 40
LEXICAL_PARAGRAPHS = 10
# all-MiniLM-L6-v2 cosine similarities: unrelated English text sits around 0.0-0.2, a sentence
# that answers a question typically 0.4-0.7. Below WEAK the corpus has nothing on the topic;
# above STRONG a match is trusted even when the question names something the corpus doesn't.
WEAK_SIMILARITY = 0.30
STRONG_SIMILARITY = 0.55
# A question naming someone the corpus never mentions ("What did Macron say about Taiwan?")
# still resembles on-topic text; only a near-paraphrase overrides the missing name.
NAMED_SIMILARITY = 0.70
# ...unless the words match squarely: "Who is the NSC spokesman?" is short and acronym-laden,
# so its meaning scores low, but every word of it is found in one sentence.
STRONG_LEXICAL = 0.6
# Acronym expansion: how many corpus phrases with the right initials are weighed, and how close
# in meaning to the acronym the chosen one must be ("AI"/"artificial intelligence" is 0.79,
# "NSC"/"National Security Council" 0.53, "AI"/"another incremental" 0.31).
ACRONYM_CANDIDATES = 20
ACRONYM_SIMILARITY = 0.40
# A question most of whose key terms the corpus never uses is off-topic unless meaning agrees.
MIN_TERM_COVERAGE = 0.5


class Store(Protocol):
    """What the engine needs from the index store (``index.store.ChromaStore`` provides it)."""

    def pointer(self) -> IndexPointer | None: ...
    def documents(self, version: int) -> list[DocumentRecord]: ...
    def paragraphs(self, version: int) -> list[Paragraph]: ...
    def sentences(self, version: int) -> list[Sentence]: ...
    def sidecar(self, version: int) -> AbstractContextManager[Path | None]: ...
    def query(
        self, version: int, kind: str, vectors: npt.NDArray[np.float32], k: int
    ) -> list[list[VectorHit]]: ...


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One index version, loaded: texts, lookups and BM25 indexes built once."""

    pointer: IndexPointer
    documents: dict[str, DocumentRecord]
    paragraphs: tuple[Paragraph, ...]
    sentences: tuple[Sentence, ...]
    sentence_texts: tuple[str, ...]
    paragraph_row: dict[str, int]
    sentence_row: dict[str, int]
    sentences_of: dict[int, tuple[int, ...]]
    paragraph_row_of: tuple[int, ...]
    sentence_lexical: LexicalIndex
    paragraph_lexical: LexicalIndex
    speaker_tokens: frozenset[str]
    speaker_tokens_of: tuple[frozenset[str], ...]
    acronyms: dict[str, str | None] = field(default_factory=dict)  # filled by the engine

    @classmethod
    def load(cls, store: Store, pointer: IndexPointer) -> Snapshot:
        saved = load_sidecar(store, pointer.version)
        if saved is not None:  # written by the build: nothing to read back or tokenise
            documents = saved.documents
            paragraphs, sentences = saved.paragraphs, saved.sentences
            sentence_lexical, paragraph_lexical = saved.sentence_lexical, saved.paragraph_lexical
        else:
            documents = tuple(store.documents(pointer.version))
            paragraphs = tuple(store.paragraphs(pointer.version))
            sentences = tuple(store.sentences(pointer.version))
            sentence_lexical, paragraph_lexical = lexical_indexes(paragraphs, sentences)
        sentence_texts = tuple(s.text for s in sentences)
        paragraph_row = {p.paragraph_id: i for i, p in enumerate(paragraphs)}
        paragraph_row_of = tuple(paragraph_row[f"{s.doc_id}:{s.paragraph}"] for s in sentences)
        grouped: dict[int, list[int]] = {}
        for row, paragraph in enumerate(paragraph_row_of):
            grouped.setdefault(paragraph, []).append(row)
        speaker_tokens_of = tuple(
            frozenset(word for name in s.speakers for word in name_tokens(name)) for s in sentences
        )
        return cls(
            pointer=pointer,
            documents={d.doc_id: d for d in documents},
            paragraphs=paragraphs,
            sentences=sentences,
            sentence_texts=sentence_texts,
            paragraph_row=paragraph_row,
            sentence_row={s.sentence_id: i for i, s in enumerate(sentences)},
            sentences_of={k: tuple(v) for k, v in grouped.items()},
            paragraph_row_of=paragraph_row_of,
            sentence_lexical=sentence_lexical,
            paragraph_lexical=paragraph_lexical,
            speaker_tokens=frozenset().union(*speaker_tokens_of) - QUESTION_WORDS,
            speaker_tokens_of=speaker_tokens_of,
        )

    def paragraph_of(self, row: int) -> Paragraph:
        return self.paragraphs[self.paragraph_row_of[row]]

    def acronym_candidates(self, acronym: str) -> list[str]:
        """Corpus phrases whose initials spell ``acronym``, most frequent first.

        A scan of the paragraph texts with one compiled pattern: it runs only for a question
        holding an acronym the corpus never uses, and its result is cached.
        """
        pattern = acronym_pattern(acronym)
        found: Counter[str] = Counter()
        for paragraph in self.paragraphs:
            for match in pattern.finditer(paragraph.text):
                words = re.split(r"[\s\-]+", match.group(0))
                if not any(w.lower() in QUESTION_WORDS for w in (words[0], words[-1])):
                    found[" ".join(words).lower()] += 1
        return [phrase for phrase, _ in found.most_common(ACRONYM_CANDIDATES)]


class Engine:
    """Answers questions from the store's live index, with citations."""

    def __init__(self, store: Store, embedder: Embedder) -> None:
        self._store = store
        self._embedder = embedder
        self._snapshot: Snapshot | None = None
        self._lock = threading.Lock()

    @property
    def embedder(self) -> Embedder:
        return self._embedder

    @property
    def store(self) -> Store:
        return self._store

    def snapshot(self) -> Snapshot:
        """The live index, reloaded when the store's pointer has moved since the last call."""
        pointer = self._store.pointer()
        if pointer is None:
            raise IndexMissing("no index has been built yet. Run `readout index` first.")
        if pointer.model_id != self._embedder.model_id:
            raise IndexMismatch(
                f"the index was built with {pointer.model_id}, but readout is configured "
                f"with {self._embedder.model_id}. Rebuild it with `readout index`, or set "
                "READOUT_MODEL back to the model that built it."
            )
        current = self._snapshot
        if current is not None and current.pointer.version == pointer.version:
            return current
        with self._lock:
            if self._snapshot is None or self._snapshot.pointer.version != pointer.version:
                started = time.perf_counter()
                self._snapshot = Snapshot.load(self._store, pointer)
                log.info(
                    "loaded index v%d: %d paragraphs, %d sentences in %.2fs",
                    pointer.version, len(self._snapshot.paragraphs),
                    len(self._snapshot.sentences), time.perf_counter() - started,
                )  # fmt: skip
            return self._snapshot

    def ask(self, question: str) -> Answer:
        """Answer ``question`` with 1-3 cited verbatim sentences, or say it is not covered."""
        result = self.ask_many([question])[0]
        if isinstance(result, QuestionError):
            raise result
        return result

    def ask_many(self, questions: Sequence[str]) -> list[Answer | QuestionError]:
        """Answer several questions with one model call and one store round-trip per kind.

        Encoding dominates the cost of a question, and encoding a batch costs little more than
        encoding one, so concurrent questions are answered together (the chat service collects
        them for a moment). A question that is empty or too long gets its QuestionError in its
        place; a failure of the store or the model raises for the whole batch.
        """
        results: list[Answer | QuestionError | None] = [None] * len(questions)
        valid: list[tuple[int, str]] = []
        for position, raw in enumerate(questions):
            try:
                valid.append((position, validate_question(raw)))
            except QuestionError as refused:
                results[position] = refused
        if valid:
            snapshot = self.snapshot()
            version = snapshot.pointer.version
            to_search: list[tuple[int, str, QueryTerms]] = []
            for position, question in valid:
                terms = analyze_question(
                    question,
                    knows=snapshot.sentence_lexical.knows,
                    speaker_tokens=snapshot.speaker_tokens,
                    expand_acronym=lambda acronym: self._expand_acronym(snapshot, acronym),
                )
                if _clearly_off_topic(terms):
                    results[position] = Answer.not_covered(question, version)
                else:
                    to_search.append((position, question, terms))
            if to_search:
                vectors = self._embedder.encode(
                    [" ".join((question, *terms.expansions)) for _, question, terms in to_search]
                )
                typed = any(terms.answer_type for _, _, terms in to_search)
                sentence_hits = self._store.query(
                    version,
                    "sentences",
                    vectors,
                    TYPED_DENSE_SENTENCES if typed else DENSE_SENTENCES,
                )
                paragraph_hits = self._store.query(version, "paragraphs", vectors, DENSE_PARAGRAPHS)
                for (position, question, terms), sentences, paragraphs in zip(
                    to_search, sentence_hits, paragraph_hits, strict=True
                ):
                    ranked = _rank(snapshot, terms, sentences, paragraphs)
                    if not ranked or not _covered(terms, [r.evidence for r in ranked]):
                        results[position] = Answer.not_covered(question, version)
                    else:
                        results[position] = _compose(snapshot, question, ranked)
        return [result for result in results if result is not None]

    def _expand_acronym(self, snapshot: Snapshot, acronym: str) -> str | None:
        """The corpus phrase an acronym stands for, if the model agrees it does (cached).

        Initials alone are a weak clue ("AI" also fits "another incremental"); the embedding
        model knows common acronyms, so the candidate closest in meaning to the bare acronym is
        taken, and only if it is close enough.
        """
        key = acronym.upper()
        if key not in snapshot.acronyms:
            candidates = snapshot.acronym_candidates(key)
            expansion = None
            if candidates:
                vectors = self._embedder.encode([key, *candidates])
                similarities = vectors[1:] @ vectors[0]
                best = int(similarities.argmax())
                if float(similarities[best]) >= ACRONYM_SIMILARITY:
                    expansion = candidates[best]
            snapshot.acronyms[key] = expansion
        return snapshot.acronyms[key]

    def quotes(self, speaker: str) -> list[Citation]:
        """Every sentence attributed to ``speaker`` (any word of their name), in document order."""
        wanted = set(name_tokens(speaker))
        if not wanted:
            raise QuestionError("name a speaker, e.g. `readout quotes xi`.")
        snapshot = self.snapshot()
        rows = [row for row, tokens in enumerate(snapshot.speaker_tokens_of) if wanted <= tokens]
        return [
            _citation(snapshot, n, row, 1.0, "attributed to " + speaker)
            for n, row in enumerate(rows, 1)
        ]

    def speakers(self) -> list[tuple[str, int]]:
        """Names statements are attributed to, with how many sentences each."""
        counts: Counter[str] = Counter(
            name for sentence in self.snapshot().sentences for name in sentence.speakers
        )
        return counts.most_common()

    def paragraph(self, ref: str) -> tuple[DocumentRecord, Paragraph]:
        """Look up ``N`` (in the only/first document) or ``DOC:N``."""
        snapshot = self.snapshot()
        doc_id, _, number_text = ref.strip().rpartition(":")
        number_text = number_text.strip().lstrip("¶")
        if not number_text.isdigit():
            raise QuestionError(f"{ref!r} is not a paragraph reference; use N or DOC:N, e.g. 12.")
        if not doc_id:
            if len(snapshot.documents) != 1:
                names = ", ".join(sorted(snapshot.documents))
                raise QuestionError(f"several documents are indexed ({names}); use DOC:N.")
            doc_id = next(iter(snapshot.documents))
        row = snapshot.paragraph_row.get(f"{doc_id}:{int(number_text)}")
        if row is None:
            document = snapshot.documents.get(doc_id)
            if document is None:
                raise QuestionError(f"there is no document {doc_id!r} in the index.")
            raise QuestionError(
                f"{doc_id} has paragraphs 1-{document.paragraphs}; there is no ¶{number_text}."
            )
        return snapshot.documents[doc_id], snapshot.paragraphs[row]


def validate_question(question: str) -> str:
    """The question stripped, or :class:`QuestionError` if it is empty or too long."""
    question = " ".join(question.split())
    if not question:
        raise QuestionError('ask a question, e.g. readout ask "What did Xi say about Taiwan?"')
    if len(question) > MAX_QUESTION_CHARS:
        raise QuestionError(
            f"that question is {len(question):,} characters; the limit is {MAX_QUESTION_CHARS:,}."
        )
    return question


def _clearly_off_topic(terms: QueryTerms) -> bool:
    """Abstain before searching when words alone show the corpus cannot cover the question."""
    if not terms.key_terms and not terms.expansions:
        return True  # nothing to look for: "what's 2+2?"
    return (
        bool(terms.key_terms)
        and not terms.expansions
        and len(terms.missing) == len(terms.key_terms)
    )


def _covered(terms: QueryTerms, best: Sequence[Evidence]) -> bool:
    """Whether the evidence found anywhere is strong enough to quote an answer.

    Judged on all candidates, not only the first: the top-ranked sentence may win on a bonus
    while another shows the topic is plainly present.
    """
    relevance = max(e.relevance for e in best)
    lexical = max(e.lexical_sentence for e in best)
    if relevance < WEAK_SIMILARITY and lexical < STRONG_LEXICAL:
        return False
    if terms.missing_names and relevance < NAMED_SIMILARITY:
        return False  # it asks about something (the Pope, the Olympics) the corpus never names
    if terms.coverage < MIN_TERM_COVERAGE and relevance < STRONG_SIMILARITY:
        return False
    return True


def _rank(
    snapshot: Snapshot,
    terms: QueryTerms,
    sentence_hits: Sequence[VectorHit],
    paragraph_hits: Sequence[VectorHit],
) -> list[Ranked]:
    answer_type = terms.answer_type
    dense_sentence: dict[int, float] = {}
    for position, hit in enumerate(sentence_hits):
        row = snapshot.sentence_row.get(hit.record_id)
        if row is not None and (
            position < DENSE_SENTENCES
            or (
                answer_type
                and hit.similarity >= WEAK_SIMILARITY  # on topic, not just any date
                and has_answer_type(answer_type, snapshot.sentences[row].text)
            )
        ):
            dense_sentence[row] = hit.similarity
    dense_paragraph = {
        snapshot.paragraph_row[h.record_id]: h.similarity
        for h in paragraph_hits
        if h.record_id in snapshot.paragraph_row
    }
    lexical_query = terms.topic_query
    lexical_sentence = {
        hit.row: hit.score
        for hit in snapshot.sentence_lexical.search(lexical_query, LEXICAL_SENTENCES)
    }
    lexical_paragraph = {
        hit.row: hit.score
        for hit in snapshot.paragraph_lexical.search(lexical_query, LEXICAL_PARAGRAPHS)
    }
    # Rows not returned by a search score no better than the weakest row that was.
    sentence_floor = min((hit.similarity for hit in sentence_hits[:DENSE_SENTENCES]), default=0.0)
    paragraph_floor = min(dense_paragraph.values(), default=0.0)
    candidates = set(dense_sentence) | set(lexical_sentence)
    for paragraph in (*dense_paragraph, *lexical_paragraph):
        candidates.update(snapshot.sentences_of.get(paragraph, ()))

    support = _document_support(snapshot, dense_paragraph)
    wanted_speakers = set(terms.speaker_tokens)
    evidence: dict[int, Evidence] = {}
    for row in candidates:
        paragraph = snapshot.paragraph_row_of[row]
        evidence[row] = Evidence(
            dense_sentence=dense_sentence.get(row, sentence_floor),
            dense_paragraph=dense_paragraph.get(paragraph, paragraph_floor),
            lexical_sentence=lexical_sentence.get(row, 0.0),
            lexical_paragraph=lexical_paragraph.get(paragraph, 0.0),
            speaker=bool(wanted_speakers & snapshot.speaker_tokens_of[row]),
            wants_speaker=bool(wanted_speakers),
            document_support=support.get(snapshot.sentences[row].doc_id, 0.0),
            answer_type=bool(answer_type)
            and has_answer_type(answer_type or "", snapshot.sentences[row].text),
            wants_answer_type=bool(answer_type),
        )
    return rank(evidence)


def _document_support(snapshot: Snapshot, dense_paragraph: dict[int, float]) -> dict[str, float]:
    """Each document's share of the closest paragraphs' similarity.

    Passages about a question cluster in the documents about its topic: when most of the
    nearest paragraphs come from the article, a sentence elsewhere that merely shares a word
    ("call" in a programming manual) is less likely to be the answer.
    """
    mass: dict[str, float] = {}
    for row, similarity in dense_paragraph.items():
        doc_id = snapshot.paragraphs[row].doc_id
        mass[doc_id] = mass.get(doc_id, 0.0) + max(similarity, 0.0)
    total = sum(mass.values())
    return {doc_id: share / total for doc_id, share in mass.items()} if total > 0 else {}


def _compose(snapshot: Snapshot, question: str, ranked: list[Ranked]) -> Answer:
    chosen = select_sentences(
        ranked, texts=snapshot.sentence_texts, paragraph_of=snapshot.paragraph_row_of
    )
    citations = tuple(
        _citation(snapshot, n, choice.row, choice.score, choice.evidence.reason())
        for n, choice in enumerate(chosen, start=1)
    )
    text = " ".join(f"{c.quote} [{c.n}]" for c in citations)
    return Answer(question, text, False, citations, snapshot.pointer.version)


def _citation(snapshot: Snapshot, n: int, row: int, score: float, reason: str) -> Citation:
    sentence = snapshot.sentences[row]
    document = snapshot.documents.get(sentence.doc_id)
    return Citation(
        n=n,
        doc=sentence.doc_id,
        title=document.title if document else sentence.doc_id,
        paragraph=sentence.paragraph,
        sentence=sentence.index,
        quote=sentence.text,
        score=score,
        url=document.url if document else "",
        context=snapshot.paragraph_of(row).text,
        reason=reason,
    )
