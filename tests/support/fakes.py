"""Fakes shared by tests, each standing in for one seam (a ``Protocol`` its layer owns):

* :class:`FakeEmbedder` for ``index.embedder.Embedder``;
* :class:`FakeEngine` and :class:`EngineWrapper` for ``bot.service.AnswerEngine``;
* :class:`RecordingFeedback` for ``bot.service.FeedbackSink``;
* :class:`FakeStore` for ``retrieval.engine.Store``.

Not a test module: tests import from here, never from each other.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import numpy.typing as npt

from bot.service import Asker
from index.corpus import Document, Paragraph, Sentence, paragraph_hash
from index.errors import QuestionError
from index.store import DocumentRecord, IndexPointer, VectorHit, document_record
from retrieval.answer import Answer, Citation
from retrieval.conversation import Turn
from retrieval.engine import Engine, ParagraphHashes


class FakeEmbedder:
    """Hashing bag-of-words vectors: deterministic, instant, similar texts share words."""

    model_id = "fake-hashing-embedder"
    dimension = 64

    def __init__(self) -> None:
        self.calls: list[int] = []

    def encode(
        self, texts: Sequence[str], *, show_progress: bool = False
    ) -> npt.NDArray[np.float32]:
        self.calls.append(len(texts))
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                bucket = int(hashlib.sha1(word.encode()).hexdigest(), 16) % self.dimension
                vectors[row, bucket] += 1.0
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, 1e-9)


def quoting_answer(question: str, quote: str = "A quoted sentence.") -> Answer:
    """An answer citing one made-up sentence."""
    return Answer.quoting(question, [Citation(1, "d", "T", 1, 1, quote, 0.5)])


class FakeEngine:
    """Answers every question by quoting a fixed sentence; records what was searched.

    ``error`` is raised by every call; ``gate`` (when given) holds each batch until set."""

    def __init__(
        self,
        *,
        error: Exception | None = None,
        gate: threading.Event | None = None,
        warm_up_error: Exception | None = None,
    ) -> None:
        self.asked: list[str] = []
        self.batches: list[int] = []
        self.histories: list[list[tuple[Turn, ...]] | None] = []
        self.error = error
        self.gate = gate
        self.warm_up_error = warm_up_error

    def ask_many(
        self, questions: Sequence[str], histories: Sequence[Sequence[Turn]] | None = None
    ) -> list[Answer | QuestionError]:
        self.batches.append(len(questions))
        self.asked.extend(questions)
        self.histories.append(None if histories is None else [tuple(h) for h in histories])
        if self.gate is not None:
            self.gate.wait(5)
        if self.error is not None:
            raise self.error
        return [quoting_answer(question) for question in questions]

    def turn(self, answer: Answer) -> Turn:
        quote = answer.citations[0].quote if answer.citations else ""
        return Turn(answer.understood_as or answer.question, quote)

    def quotes(self, speaker: str, *, limit: int = 10) -> Answer:
        if self.error is not None:
            raise self.error
        return quoting_answer(f"Statements attributed to {speaker}")

    def source(self, ref: str) -> Answer:
        if self.error is not None:
            raise self.error
        return quoting_answer(f"Source {ref}", "A whole paragraph.")

    def warm_up(self) -> None:
        if self.warm_up_error is not None:
            raise self.warm_up_error

    def titles(self) -> tuple[str, ...]:
        return ("T",)

    def paragraph_hashes(self) -> ParagraphHashes:
        return ParagraphHashes(1, 0.0, {"d:1": paragraph_hash("")})


class EngineWrapper:
    """A real engine with :meth:`ask` open to change; the rest is delegated."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def ask(self, question: str, history: Sequence[Turn] = ()) -> Answer:
        return self.engine.ask(question, history)

    def ask_many(
        self, questions: Sequence[str], histories: Sequence[Sequence[Turn]] | None = None
    ) -> list[Answer | QuestionError]:
        # The service batches concurrent questions; each still goes through ask().
        results: list[Answer | QuestionError] = []
        for position, question in enumerate(questions):
            try:
                results.append(self.ask(question, histories[position] if histories else ()))
            except QuestionError as refused:
                results.append(refused)
        return results

    def turn(self, answer: Answer) -> Turn:
        return self.engine.turn(answer)

    def quotes(self, speaker: str, *, limit: int = 10) -> Answer:
        return self.engine.quotes(speaker, limit=limit)

    def source(self, ref: str) -> Answer:
        return self.engine.source(ref)

    def warm_up(self) -> None:
        self.engine.warm_up()

    def titles(self) -> tuple[str, ...]:
        return self.engine.titles()

    def paragraph_hashes(self) -> ParagraphHashes:
        return self.engine.paragraph_hashes()


class RecordingFeedback:
    """A feedback sink that remembers votes (the service only logs them by default)."""

    def __init__(self) -> None:
        self.votes: list[tuple[str, Asker, int]] = []

    def record(self, answer_id: str, asker: Asker, vote: int) -> None:
        self.votes.append((answer_id, asker, vote))


class FakeStore:
    """An index in memory, for retrieval tests without chromadb: documents embedded with
    ``embed`` and published as version 1 (brute-force cosine search)."""

    def __init__(
        self,
        documents: Sequence[Document],
        embed: Callable[[Sequence[str]], npt.NDArray[np.float32]],
        *,
        model_id: str,
    ) -> None:
        self.embed = embed
        self.model_id = model_id
        self.live: IndexPointer | None = None
        self.error: Exception | None = None
        self.publish(documents)

    def publish(self, documents: Sequence[Document]) -> None:
        """Replace the index with ``documents``, as the next version (what a build does)."""
        self.records = [document_record(d) for d in documents]
        self.paragraph_rows = [p for d in documents for p in d.paragraphs]
        self.sentence_rows = [s for p in self.paragraph_rows for s in p.sentences]
        self.vectors = {
            "sentences": self.embed([s.text for s in self.sentence_rows]),
            "paragraphs": self.embed([p.text for p in self.paragraph_rows]),
        }
        self.ids = {
            "sentences": [s.sentence_id for s in self.sentence_rows],
            "paragraphs": [p.paragraph_id for p in self.paragraph_rows],
        }
        version = self.live.version + 1 if self.live else 1
        self.live = IndexPointer(version, self.model_id, 0.0, len(self.records))

    def prepare(self, version: int) -> None:
        """Nothing to load ahead: the vectors are already in memory."""

    def pointer(self) -> IndexPointer | None:
        if self.error is not None:
            raise self.error
        return self.live

    def documents(self, version: int) -> list[DocumentRecord]:
        return list(self.records)

    def paragraphs(self, version: int) -> list[Paragraph]:
        return [
            Paragraph(p.doc_id, p.number, p.text, p.heading, (), p.page, p.page_paragraph)
            for p in self.paragraph_rows
        ]

    def sentences(self, version: int) -> list[Sentence]:
        return list(self.sentence_rows)

    @contextmanager
    def sidecar(self, version: int) -> Iterator[Path | None]:
        yield None

    def query(
        self, version: int, kind: str, vectors: npt.NDArray[np.float32], k: int
    ) -> list[list[VectorHit]]:
        if self.error is not None:
            raise self.error
        similarities = np.asarray(vectors) @ self.vectors[kind].T
        hits = []
        for row in similarities:
            best = np.argsort(-row, kind="stable")[:k]
            hits.append([VectorHit(self.ids[kind][i], float(row[i])) for i in best])
        return hits
