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
import unicodedata
from collections import Counter
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from index.corpus import Paragraph, Sentence
from index.embedder import Embedder
from index.errors import IndexMismatch, IndexMissing, QuestionError
from index.store import DocumentRecord, IndexPointer, VectorHit
from retrieval import policy
from retrieval.answer import Answer, Citation
from retrieval.conversation import CorpusFacts, Reading, Turn, make_turn, read_question
from retrieval.features import CorpusView, Hits, Searches, candidates, measure
from retrieval.lexical import LexicalHit, LexicalIndex
from retrieval.query import (
    QUESTION_WORDS,
    QueryTerms,
    acronym_pattern,
    analyze_question,
    has_answer_type,
    name_tokens,
)
from retrieval.ranking import Ranked, rank, select_sentences
from retrieval.sidecar import lexical_indexes, load_sidecar

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

log = logging.getLogger(__name__)

MAX_QUESTION_CHARS = 1000
# How many paragraphs each method of Engine.rankings lists (enough for top-3 and MRR@10).
BASELINE_DEPTH = 10
_UNDECODABLE = re.compile(r"[\ud800-\udfff]")
# Unicode categories dropped from a question: controls, format characters (zero-width, bidi
# overrides), private use, surrogates and unassigned code points. They neither count towards
# the limit nor make an invisible question look like a real one.
_DROPPED_CATEGORIES = frozenset({"Cc", "Cf", "Co", "Cs", "Cn"})
MAX_QUOTES = 10_000  # no limit in practice; the chat service asks for fewer


class Store(Protocol):
    """What the engine needs from the index store (``index.store.ChromaStore`` provides it)."""

    def pointer(self) -> IndexPointer | None: ...
    def documents(self, version: int) -> list[DocumentRecord]: ...
    def paragraphs(self, version: int) -> list[Paragraph]: ...
    def sentences(self, version: int) -> list[Sentence]: ...
    def sidecar(self, version: int) -> AbstractContextManager[Path | None]: ...
    def prepare(self, version: int) -> None: ...
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
    doc_of_paragraph: tuple[str, ...]
    title_stems: dict[str, frozenset[str]]
    acronyms: dict[str, str | None] = field(default_factory=dict)  # filled by the engine
    # Section paths' stems, analysed when first needed (most paragraphs are never candidates;
    # a section's paragraphs share one path).
    _heading_stems: dict[str, frozenset[str]] = field(default_factory=dict)

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
        by_id = {d.doc_id: d for d in documents}
        return cls(
            pointer=pointer,
            documents=by_id,
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
            doc_of_paragraph=tuple(p.doc_id for p in paragraphs),
            title_stems={
                doc_id: frozenset(sentence_lexical.analyze(d.title).stems)
                for doc_id, d in by_id.items()
            },
        )

    @property
    def facts(self) -> CorpusFacts:
        """What reading a follow-up needs to know about this corpus."""
        return CorpusFacts(knows=self.sentence_lexical.knows, speaker_tokens=self.speaker_tokens)

    def paragraph_ref(self, row: int) -> tuple[str, int]:
        """(doc id, paragraph number) of paragraph row ``row``."""
        paragraph = self.paragraphs[row]
        return paragraph.doc_id, paragraph.number

    def heading_stems(self, paragraph_row: int) -> frozenset[str]:
        """The stems of paragraph ``paragraph_row``'s section path."""
        heading = self.paragraphs[paragraph_row].heading
        found = self._heading_stems.get(heading)
        if found is None:
            found = frozenset(self.sentence_lexical.analyze(heading).stems if heading else ())
            self._heading_stems[heading] = found
        return found

    def previous_sentence(self, row: int) -> int | None:
        """The sentence row before ``row`` in the same paragraph or, in a document with
        sections, the same section (a "Default: 8000." paragraph follows its option's
        description), if any."""
        if row == 0:
            return None
        here, before = self.paragraph_row_of[row], self.paragraph_row_of[row - 1]
        if here == before:
            return row - 1
        this, that = self.paragraphs[here], self.paragraphs[before]
        if this.heading and this.doc_id == that.doc_id and this.heading == that.heading:
            return row - 1
        return None

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
        return [phrase for phrase, _ in found.most_common(policy.ACRONYM_CANDIDATES)]


@dataclass(frozen=True, slots=True)
class ParagraphHashes:
    """One index version's paragraph text hashes (``index.corpus.paragraph_hash``) by id."""

    version: int
    built_at: float  # when that version was published (UTC epoch seconds)
    hashes: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Scored:
    """One question's candidates, their features and fitted probabilities, best first."""

    question: str
    terms: QueryTerms
    ranked: tuple[Ranked, ...]
    snapshot: Snapshot  # the index version the rows refer to

    @property
    def version(self) -> int:
        return self.snapshot.pointer.version

    @property
    def best(self) -> float:
        """The highest probability that a candidate's passage answers (what abstention reads):
        whether the documents cover the question at all, whichever sentence is quoted."""
        return max((r.answers for r in self.ranked), default=0.0)


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
        if pointer.documents == 0:
            # Published by an older readout from a folder with nothing in it.
            raise IndexMissing("the index is empty. Run `readout index PATH` with your documents.")
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
                # Vectors held in memory for exact search are fetched with the texts, not by
                # the first question to reach the new version.
                self._store.prepare(pointer.version)
                log.info(
                    "loaded index v%d: %d paragraphs, %d sentences in %.2fs",
                    pointer.version,
                    len(self._snapshot.paragraphs),
                    len(self._snapshot.sentences),
                    time.perf_counter() - started,
                )
            return self._snapshot

    def warm_up(self) -> None:
        """Load the live index and the model now, so the first question does not wait.

        The index first: a missing index or one built with another model is reported as such,
        not as whatever loading a model it does not need would say."""
        self.snapshot()
        load = getattr(self._embedder, "load", None)
        if callable(load):
            load()

    def paragraph_hashes(self) -> ParagraphHashes:
        """The live index version, and each paragraph's text hash by paragraph id (``doc:N``):
        what an answer posted earlier is compared with to see whether its sources changed."""
        snapshot = self.snapshot()
        return ParagraphHashes(
            snapshot.pointer.version,
            snapshot.pointer.built_at,
            {p.paragraph_id: p.text_hash for p in snapshot.paragraphs},
        )

    def titles(self) -> tuple[str, ...]:
        """The titles of the indexed documents (what a chat bot says it answers about)."""
        return tuple(record.title for record in self.snapshot().documents.values())

    def ask(self, question: str, history: Sequence[Turn] = ()) -> Answer:
        """Answer ``question`` with 1-3 cited verbatim sentences, or say it is not covered.

        With the ``history`` of a conversation (oldest turn first), a follow-up ("Who owns
        it?") is read with it (``retrieval.conversation``) and the answer says how.
        """
        result = self.ask_many([question], [history])[0]
        if isinstance(result, QuestionError):
            raise result
        return result

    def ask_many(
        self,
        questions: Sequence[str],
        histories: Sequence[Sequence[Turn]] | None = None,
    ) -> list[Answer | QuestionError]:
        """Answer several questions with one model call and one store round-trip per kind.

        Encoding dominates the cost of a question, and encoding a batch costs little more than
        encoding one, so concurrent questions are answered together (the chat service collects
        them for a moment). A question that is empty or too long gets its QuestionError in its
        place; a failure of the store or the model raises for the whole batch. ``histories``,
        when given, holds each question's conversation so far (see :meth:`ask`).
        """
        readings = self._read_all(questions, histories)
        calibration = policy.calibration_for(self._embedder.model_id)
        results: list[Answer | QuestionError] = []
        searched = [r.understood_as if r else q for q, r in zip(questions, readings, strict=True)]
        for position, scored in enumerate(self.score_many(searched)):
            if isinstance(scored, QuestionError):
                results.append(scored)
                continue
            reading = readings[position]
            if reading is not None and histories is not None:
                scored = _without_repeat(scored, histories[position])
            if not scored.ranked or not calibration.answers(scored.best):
                answer = Answer.not_covered(scored.question, scored.version)
            else:
                # Composed from the snapshot it was scored on: the rows mean nothing in another
                # version, and the pointer may have moved since.
                answer = _compose(scored.snapshot, scored.question, list(scored.ranked))
            if reading is not None and scored.question != reading.question:
                answer = replace(answer, question=reading.question, understood_as=scored.question)
            results.append(answer)
        return results

    def read(self, question: str, history: Sequence[Turn]) -> Reading:
        """How ``question`` reads after ``history``: as typed, or rewritten as a follow-up."""
        return read_question(validate_question(question), history, self.snapshot().facts)

    def turn(self, answer: Answer) -> Turn:
        """What a conversation keeps of ``answer`` for the questions after it."""
        quote = answer.citations[0].quote if answer.citations else ""
        return make_turn(answer.understood_as or answer.question, quote, self.snapshot().facts)

    def _read_all(
        self, questions: Sequence[str], histories: Sequence[Sequence[Turn]] | None
    ) -> list[Reading | None]:
        """Each question's reading when its history made it a follow-up, else None."""
        readings: list[Reading | None] = [None] * len(questions)
        if histories is None or not any(histories):
            return readings
        if len(histories) != len(questions):
            raise ValueError("one history per question")
        facts = self.snapshot().facts
        for position, (question, history) in enumerate(zip(questions, histories, strict=True)):
            if not history:
                continue
            try:
                reading = read_question(validate_question(question), history, facts)
            except QuestionError:
                continue  # score_many refuses it in its place
            if reading.rewritten:
                readings[position] = reading
        return readings

    def score_many(
        self, questions: Sequence[str], calibration: policy.Calibration | None = None
    ) -> list[Scored | QuestionError]:
        """Every question's candidate sentences with their features and probabilities.

        What :meth:`ask_many` answers from, and what ``scripts/train_ranker.py`` fits on (with
        its own ``calibration``; by default the model's fitted one).
        """
        results: list[Scored | QuestionError | None] = [None] * len(questions)
        valid: list[tuple[int, str]] = []
        for position, raw in enumerate(questions):
            try:
                valid.append((position, validate_question(raw)))
            except QuestionError as refused:
                results[position] = refused
        if not valid:
            return [r for r in results if r is not None]
        snapshot = self.snapshot()
        version = snapshot.pointer.version
        calibration = calibration or policy.calibration_for(self._embedder.model_id)
        to_search: list[tuple[int, str, QueryTerms]] = []
        for position, question in valid:
            terms = analyze_question(
                question,
                knows=snapshot.sentence_lexical.knows,
                speaker_tokens=snapshot.speaker_tokens,
                expand_acronym=lambda acronym: self._expand_acronym(snapshot, acronym),
            )
            if not terms.key_terms and not terms.expansions:
                # Nothing to look for ("what's 2+2?"): no evidence can be measured.
                results[position] = Scored(question, terms, (), snapshot)
            else:
                to_search.append((position, question, terms))
        if to_search:
            vectors = self._embedder.encode(
                [" ".join((question, *terms.expansions)) for _, question, terms in to_search]
            )
            typed = any(terms.answer_type for _, _, terms in to_search)
            depth = policy.TYPED_DENSE_SENTENCES if typed else policy.DENSE_SENTENCES
            sentence_hits = self._store.query(version, "sentences", vectors, depth)
            paragraph_hits = self._store.query(
                version, "paragraphs", vectors, policy.DENSE_PARAGRAPHS
            )
            for (position, question, terms), sentences, paragraphs in zip(
                to_search, sentence_hits, paragraph_hits, strict=True
            ):
                searches = _search(snapshot, question, terms, sentences, paragraphs)
                view = _corpus_view(snapshot, terms)
                rows = candidates(searches, view)
                matrix = measure(rows, searches, view)
                ranked = rank(
                    rows,
                    calibration.preference(matrix),
                    matrix,
                    calibration.probability(matrix),
                )
                results[position] = Scored(question, terms, tuple(ranked), snapshot)
        complete: list[Scored | QuestionError] = []
        for result in results:
            assert result is not None, "every question gets a result"
            complete.append(result)
        return complete

    def rankings(self, questions: Sequence[str]) -> list[dict[str, tuple[tuple[str, int], ...]]]:
        """Per question, the paragraphs (doc, number) each method ranks first, best first:
        readout's own order and three plain baselines over the same index, for ``readout eval``.

        * ``bm25``: BM25 over paragraphs, the question's words (Snowball-stemmed, stopwords out);
        * ``dense``: the question's cosine to each paragraph vector (the mean of its sentences');
        * ``hybrid``: BM25 divided by its per-question maximum, plus 0.5 x the cosine.
        """
        snapshot = self.snapshot()
        scored = self.score_many(questions)
        vectors = self._embedder.encode(list(questions))
        dense_hits = self._store.query(
            snapshot.pointer.version, "paragraphs", vectors, BASELINE_DEPTH
        )
        out: list[dict[str, tuple[tuple[str, int], ...]]] = []
        for question, result, hits in zip(questions, scored, dense_hits, strict=True):
            ref = snapshot.paragraph_ref
            own: dict[tuple[str, int], None] = {}
            if not isinstance(result, QuestionError):
                scored_on = result.snapshot
                for ranked in result.ranked:
                    own.setdefault(
                        scored_on.paragraph_ref(scored_on.paragraph_row_of[ranked.row]), None
                    )
            lexical = snapshot.paragraph_lexical.search(question, BASELINE_DEPTH)
            dense = {
                snapshot.paragraph_row[h.record_id]: h.similarity
                for h in hits
                if h.record_id in snapshot.paragraph_row
            }
            top_raw = max((h.raw for h in lexical), default=0.0) or 1.0
            floor = min(dense.values(), default=0.0)
            hybrid = {row: 0.5 * cosine for row, cosine in dense.items()}
            for h in lexical:
                hybrid[h.row] = h.raw / top_raw + 0.5 * dense.get(h.row, floor)
            out.append(
                {
                    "readout": tuple(own),
                    "bm25": tuple(ref(h.row) for h in lexical),
                    "dense": tuple(ref(row) for row in dense),
                    "hybrid": tuple(
                        ref(row) for row in sorted(hybrid, key=lambda r: (-hybrid[r], r))
                    ),
                }
            )
        return out

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
                if float(similarities[best]) >= policy.ACRONYM_SIMILARITY:
                    expansion = candidates[best]
            snapshot.acronyms[key] = expansion
        return snapshot.acronyms[key]

    def quotes(self, speaker: str, *, limit: int = MAX_QUOTES) -> Answer:
        """Sentences attributed to ``speaker`` (any word of their name), in document order: the
        first ``limit`` of them, cited; when there are none, an abstention naming who is quoted."""
        wanted = set(name_tokens(speaker))
        if not wanted:
            raise QuestionError("name a speaker, e.g. xi.")
        snapshot = self.snapshot()
        rows = [row for row, tokens in enumerate(snapshot.speaker_tokens_of) if wanted <= tokens]
        question = f"Statements attributed to {speaker}"
        version = snapshot.pointer.version
        if not rows:
            known = ", ".join(name for name, _ in self.speakers()[:10]) or "nobody"
            text = f"I found no statements attributed to {speaker}. Speakers found: {known}."
            return Answer(question, text, True, (), version)
        citations = [
            _citation(snapshot, n, row, 1.0, "attributed to " + speaker)
            for n, row in enumerate(rows[:limit], 1)
        ]
        return Answer.quoting(question, citations, version)

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

    def source(self, ref: str) -> Answer:
        """One paragraph in full, for ``N`` or ``DOC:N``, cited as ``[1]``."""
        document, paragraph = self.paragraph(ref)
        citation = _cite(
            document,
            paragraph,
            n=1,
            sentence=0,
            quote=paragraph.text,
            score=1.0,
            reason="requested paragraph",
        )
        return Answer.quoting(f"Source {ref.strip()}", [citation], self.snapshot().pointer.version)


def normalize_question(text: str) -> str:
    """The question as it is searched and logged, on every surface: NFKC-normalised; controls,
    zero-width, bidi and other invisible characters dropped; whitespace collapsed."""
    kept = []
    for char in unicodedata.normalize("NFKC", text):
        category = unicodedata.category(char)
        if char in "\t\n\r" or category == "Zs":
            kept.append(" ")
        elif category not in _DROPPED_CATEGORIES:
            kept.append(char)
    return " ".join("".join(kept).split())


def validate_question(question: str) -> str:
    """:func:`normalize_question`'s result, or :class:`QuestionError` if the question is not
    text, empty or too long."""
    if _UNDECODABLE.search(question):
        # Bytes that were not UTF-8 arrive as lone surrogates (Python's surrogateescape).
        raise QuestionError("the question is not valid UTF-8 text; retype it and ask again.")
    question = normalize_question(question)
    if not question:
        raise QuestionError("ask a question, e.g. “What did Xi say about Taiwan?”")
    if len(question) > MAX_QUESTION_CHARS:
        raise QuestionError(
            f"that question is {len(question):,} characters; the limit is {MAX_QUESTION_CHARS:,}."
        )
    return question


def _search(
    snapshot: Snapshot,
    question: str,
    terms: QueryTerms,
    sentence_hits: Sequence[VectorHit],
    paragraph_hits: Sequence[VectorHit],
) -> Searches:
    """What the four searches returned for one question, as rows of the snapshot."""
    answer_type = terms.answer_type
    dense_sentences: list[tuple[int, float]] = []
    for position, hit in enumerate(sentence_hits):
        row = snapshot.sentence_row.get(hit.record_id)
        if row is not None and (
            position < policy.DENSE_SENTENCES
            or (
                answer_type
                and hit.similarity >= policy.TYPED_MIN_SIMILARITY  # on topic, not just any date
                and has_answer_type(answer_type, snapshot.sentences[row].text)
            )
        ):
            dense_sentences.append((row, hit.similarity))
    dense_paragraphs = [
        (snapshot.paragraph_row[h.record_id], h.similarity)
        for h in paragraph_hits
        if h.record_id in snapshot.paragraph_row
    ]
    query = terms.topic_query
    lexical_sentences = snapshot.sentence_lexical.search(query, policy.LEXICAL_SENTENCES)
    lexical_paragraphs = snapshot.paragraph_lexical.search(query, policy.LEXICAL_PARAGRAPHS)
    words = " ".join((question, *terms.expansions))
    words_sentences = snapshot.sentence_lexical.search(words, policy.LEXICAL_SENTENCES)
    words_paragraphs = snapshot.paragraph_lexical.search(words, policy.LEXICAL_PARAGRAPHS)
    return Searches(
        dense_sentence=Hits.from_ranked(dense_sentences),
        dense_paragraph=Hits.from_ranked(dense_paragraphs),
        lexical_sentence=_lexical_hits(lexical_sentences),
        lexical_paragraph=_lexical_hits(lexical_paragraphs),
        words_sentence=_lexical_hits(words_sentences),
        words_paragraph=_lexical_hits(words_paragraphs),
        query=snapshot.sentence_lexical.analyze(query),
        paragraph_query=snapshot.paragraph_lexical.analyze(query),
        wants_answer_type=bool(answer_type),
        wants_speaker=bool(terms.speaker_tokens),
        coverage=terms.coverage,
        missing_name=bool(terms.missing_names),
        missing_name_share=len(terms.missing_names) / max(1, len(terms.key_terms)),
        asks_statement=terms.asks_statement,
        document_support=_document_support(snapshot, dict(dense_paragraphs)),
    )


def _lexical_hits(hits: Sequence[LexicalHit]) -> Hits:
    return Hits.from_ranked([(h.row, h.score) for h in hits], [h.raw for h in hits])


def _corpus_view(snapshot: Snapshot, terms: QueryTerms) -> CorpusView:
    answer_type = terms.answer_type
    wanted = frozenset(terms.speaker_tokens)
    texts = snapshot.sentence_texts
    return CorpusView(
        paragraph_row_of=snapshot.paragraph_row_of,
        sentences_of=snapshot.sentences_of,
        doc_of_paragraph=snapshot.doc_of_paragraph,
        sentence_tokens=snapshot.sentence_lexical.tokens,
        paragraph_tokens=snapshot.paragraph_lexical.tokens,
        title_stems=snapshot.title_stems,
        heading_stems=snapshot.heading_stems,
        previous_sentence=snapshot.previous_sentence,
        has_answer_type=lambda row: (
            bool(answer_type) and has_answer_type(answer_type or "", texts[row])
        ),
        credits_speaker=lambda row: bool(wanted & snapshot.speaker_tokens_of[row]),
    )


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


def _without_repeat(scored: Scored, history: Sequence[Turn]) -> Scored:
    """``scored`` without the sentence the last answer quoted, when the follow-up asks what
    another speaker said and that sentence is not attributed to them: "And what did Biden say
    about it?" is never answered by the Xi quote the person has just read."""
    terms, snapshot = scored.terms, scored.snapshot
    if not history or not history[-1].quote or not terms.speaker_tokens:
        return scored
    last = history[-1]
    asked = frozenset(terms.speaker_tokens)
    before = frozenset(t for name in last.speakers for t in name_tokens(name))
    if asked <= before:
        return scored
    kept = tuple(
        r
        for r in scored.ranked
        if snapshot.sentence_texts[r.row] != last.quote or asked & snapshot.speaker_tokens_of[r.row]
    )
    return replace(scored, ranked=kept)


def _compose(snapshot: Snapshot, question: str, ranked: list[Ranked]) -> Answer:
    chosen = select_sentences(
        ranked, texts=snapshot.sentence_texts, paragraph_of=snapshot.paragraph_row_of
    )
    citations = [
        _citation(snapshot, n, choice.row, choice.answers, choice.reason())
        for n, choice in enumerate(chosen, start=1)
    ]
    return Answer.quoting(question, citations, snapshot.pointer.version)


def _citation(snapshot: Snapshot, n: int, row: int, score: float, reason: str) -> Citation:
    """Citation ``n`` for sentence row ``row``."""
    sentence = snapshot.sentences[row]
    # A document without its record (an index damaged by hand) is cited by its id.
    document = snapshot.documents.get(sentence.doc_id) or DocumentRecord(
        sentence.doc_id, sentence.doc_id, "", "", "", "", 0
    )
    return _cite(
        document,
        snapshot.paragraph_of(row),
        n=n,
        sentence=sentence.index,
        quote=sentence.text,
        score=score,
        reason=reason,
    )


def _cite(
    document: DocumentRecord,
    paragraph: Paragraph,
    *,
    n: int,
    sentence: int,
    quote: str,
    score: float,
    reason: str,
) -> Citation:
    """The one place a :class:`Citation` is made: a quote from ``paragraph`` of ``document``."""
    return Citation(
        n=n,
        doc=paragraph.doc_id,
        title=document.title,
        paragraph=paragraph.number,
        sentence=sentence,
        quote=quote,
        score=score,
        url=document.url,
        context=paragraph.text,
        reason=reason,
        section=paragraph.heading,
        page=paragraph.page,
        page_paragraph=paragraph.page_paragraph,
    )
