"""Lexical search: BM25 (bm25s) over sentences and paragraphs, and the corpus vocabulary.

The only module that imports bm25s. Texts are lower-cased (acronyms that spell a function word,
like "US", first made distinct), split into words of two or more characters, stripped of a
short English stopword list and Snowball-stemmed, once, when the corpus is loaded; a question is
tokenised the same way and scored against the prebuilt sparse matrix, so per-question cost does
not grow with re-tokenising the corpus.

An index is built once per index version and saved beside it (``save``: bm25s's own files plus
the token ids and document frequencies); a reader ``load``s it with the score matrix
memory-mapped instead of tokenising every text again.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import bm25s
import numpy as np
import numpy.typing as npt
import Stemmer
from bm25s.stopwords import STOPWORDS_EN, STOPWORDS_EN_PLUS
from bm25s.tokenization import Tokenizer

WORD = re.compile(r"(?u)\b\w\w+\b")
# "U.S." and "US" are one word; "US" and "us" are not. An acronym spelled like a function word
# ("US", "IT", "WHO") gets its own token, or "according to US officials" would match every
# "tells us to" in a software manual.
_DOTTED_ACRONYM = re.compile(r"\b(?:[A-Z]\.){2,}")
_CAPITALS = re.compile(r"\b[A-Z]{2,5}\b")
_FUNCTION_WORDS = frozenset(STOPWORDS_EN_PLUS) | {"us"}

# bm25s sets its logger to DEBUG on import, which bypasses the application's level; hand the
# decision back to whatever logging the entry point configured.
logging.getLogger("bm25s").setLevel(logging.NOTSET)

_VOCABULARY = "vocabulary.json"
_FREQUENCIES = "frequencies.npy"
_TOKENS = "tokens.npy"
_OFFSETS = "offsets.npy"


@dataclass(frozen=True, slots=True)
class LexicalHit:
    """A row in the indexed texts and its BM25 score as a share of what the query could reach.

    BM25 scores grow with the number and rarity of query words and shift with corpus size, so
    raw scores cannot be compared with a threshold. Dividing by what an average-length text
    containing each query word once would score gives a number
    near 1.0 when the text holds every query word and near 0 when it holds only common ones;
    a word the corpus never uses counts with the highest IDF, since it is the most telling.
    """

    row: int
    score: float
    raw: float = 0.0  # the BM25 score itself, only comparable within one query


@dataclass(frozen=True, slots=True)
class QueryTokens:
    """A question's distinct stems in order, their token ids (-1 where the corpus lacks the
    stem) and IDF weights (a stem the corpus lacks weighs most, see LexicalHit)."""

    stems: tuple[str, ...]
    ids: tuple[int, ...]
    weights: tuple[float, ...]


@lru_cache(maxsize=1)
def _stemmer() -> Any:
    return Stemmer.Stemmer("english")


def _idf(document_frequency: int, documents: int) -> float:
    # The Lucene IDF that bm25s's default "lucene" method uses.
    return math.log(1 + (documents - document_frequency + 0.5) / (document_frequency + 0.5))


def lexical_form(text: str) -> str:
    """``text`` with acronyms made distinct from the function words they spell ("US" vs "us")."""
    text = _DOTTED_ACRONYM.sub(lambda m: m.group(0).replace(".", ""), text)
    return _CAPITALS.sub(_acronym_token, text)


def _acronym_token(match: re.Match[str]) -> str:
    word = match.group(0).lower()
    return f"{word}_acronym" if word in _FUNCTION_WORDS else match.group(0)


def query_stems(query: str) -> list[str]:
    """A query's distinct stems in order, tokenised as the indexed texts were."""
    words = WORD.findall(lexical_form(query).lower())
    return list(dict.fromkeys(stem(w) for w in words if w not in STOPWORDS_EN))


def stem(word: str) -> str:
    """The Snowball stem of one lower-cased word, as the BM25 index stores it."""
    return str(_stemmer().stemWord(word.lower()))


# Lexical indexes of more texts than this are memory-mapped when loaded (see LexicalIndex.load).
MMAP_FROM_TEXTS = 20_000


class LexicalIndex:
    """BM25 over a fixed list of texts, plus the set of stems those texts contain."""

    def __init__(self, texts: Sequence[str]) -> None:
        tokenizer = Tokenizer(stemmer=_stemmer(), stopwords=list(STOPWORDS_EN))
        corpus_ids = tokenizer.tokenize(
            [lexical_form(text) for text in texts], show_progress=False, return_as="ids"
        )
        retriever = bm25s.BM25()
        retriever.index(corpus_ids, show_progress=False)
        vocabulary = tokenizer.get_vocab_dict()
        # Document frequency per token id, for the IDF that normalises scores.
        unique_ids = [np.unique(np.asarray(doc, dtype=np.int64)) for doc in corpus_ids]
        flat = np.concatenate(unique_ids) if unique_ids else np.zeros(0, dtype=np.int64)
        frequencies = np.bincount(flat, minlength=len(vocabulary))
        # Every text's token ids in order (one flat array and offsets: a few bytes a word), for
        # the term features that BM25's bag of words cannot see: bigrams and proximity.
        lengths = np.fromiter((len(doc) for doc in corpus_ids), dtype=np.int64, count=len(texts))
        offsets = np.concatenate(([0], np.cumsum(lengths))).astype(np.int64)
        tokens = (
            np.concatenate([np.asarray(doc, dtype=np.int32) for doc in corpus_ids])
            if len(texts) and int(offsets[-1])
            else np.zeros(0, dtype=np.int32)
        )
        self._init(retriever, vocabulary, frequencies, len(texts), tokens, offsets)

    def _init(
        self,
        retriever: Any,
        vocabulary: Mapping[str, int],
        frequencies: npt.NDArray[np.int64],
        size: int,
        tokens: npt.NDArray[np.int32],
        offsets: npt.NDArray[np.int64],
    ) -> None:
        self._retriever = retriever
        self._token_ids: dict[str, int] = dict(vocabulary)
        self._frequencies = frequencies
        self.vocabulary = frozenset(vocabulary)
        self.size = size
        self._idf = {
            token: _idf(int(frequencies[token_id]), size) for token, token_id in vocabulary.items()
        }
        self._unknown_idf = _idf(0, size)
        self._rare_idf = _idf(1, size)
        self._flat = tokens
        self._offsets = offsets
        self._unknown_idf = _idf(0, size)
        self._rare_idf = _idf(1, size)

    def save(self, directory: Path) -> None:
        """Write the index into ``directory`` (created): bm25s's score matrix, our vocabulary."""
        directory.mkdir(parents=True, exist_ok=True)
        # bm25s's own vocabulary of an index built from token ids has int keys, which its JSON
        # writer (orjson) refuses; ours is saved below, so bm25s writes an empty one.
        retriever = self._retriever
        bm25s_vocabulary, retriever.vocab_dict = retriever.vocab_dict, {}
        try:
            retriever.save(str(directory), show_progress=False)
        finally:
            retriever.vocab_dict = bm25s_vocabulary
        np.save(directory / _FREQUENCIES, self._frequencies.astype(np.int64), allow_pickle=False)
        np.save(directory / _TOKENS, self._flat, allow_pickle=False)
        np.save(directory / _OFFSETS, self._offsets, allow_pickle=False)
        (directory / _VOCABULARY).write_text(
            json.dumps({"size": self.size, "token_ids": self._token_ids}, ensure_ascii=False),
            encoding="utf-8",
        )

    @classmethod
    def load(cls, directory: Path) -> LexicalIndex:
        """An index saved by :meth:`save`, its score matrix memory-mapped (nothing tokenised).

        Raises ``OSError`` or ``ValueError`` for missing or malformed files.
        """
        saved = json.loads((directory / _VOCABULARY).read_text(encoding="utf-8"))
        frequencies = np.load(directory / _FREQUENCIES, allow_pickle=False)
        # Memory-mapped when large (a bot on 100k paragraphs starts without reading it all);
        # a small index is read into memory, where bm25s's scoring slices it faster.
        retriever = bm25s.BM25.load(
            str(directory),
            mmap=int(saved["size"]) > MMAP_FROM_TEXTS,
            load_vocab=False,
            show_progress=False,
        )
        token_ids = saved["token_ids"]
        if not isinstance(token_ids, dict) or len(frequencies) < len(token_ids):
            raise ValueError(f"{directory} holds an inconsistent lexical index")
        # Still memory-mapped, but as a plain ndarray: slicing a np.memmap builds a memmap
        # object per slice, which made token lookups a tenth of a warm answer.
        flat = np.load(directory / _TOKENS, mmap_mode="r", allow_pickle=False).view(np.ndarray)
        offsets = np.load(directory / _OFFSETS, allow_pickle=False)
        if len(offsets) != int(saved["size"]) + 1 or int(offsets[-1]) != len(flat):
            raise ValueError(f"{directory} holds token ids that do not match its texts")
        index = cls.__new__(cls)
        index._init(retriever, token_ids, frequencies, int(saved["size"]), flat, offsets)
        return index

    def search(self, query: str, k: int) -> list[LexicalHit]:
        """The ``k`` best rows for ``query`` (scores normalised, see LexicalHit), best first."""
        stems = query_stems(query)
        # What an average-length text holding each query word once scores: bm25s's Lucene
        # variant gives such a word idf * 1 / (1 + k1).
        # A query of only common words ("call") cannot earn full credit: the norm is at least
        # what one word found in a single text would score.
        information = sum(self._idf.get(s, self._unknown_idf) for s in stems)
        norm = max(information, self._rare_idf) / (1 + self._retriever.k1)
        # The stems above are exactly the tokens bm25s's tokenizer would make; looking their ids
        # up directly skips its per-call machinery (progress bars included), a third of the
        # lexical search time on a small corpus.
        ids = [self._token_ids[s] for s in stems if s in self._token_ids]
        if not ids or self.size == 0 or norm <= 0:
            return []
        scores = self._retriever.get_scores_from_ids(ids)
        count = min(k, self.size)
        top = np.argpartition(-scores, count - 1)[:count] if count < self.size else np.arange(count)
        top = top[np.lexsort((top, -scores[top]))]  # best first, ties by row
        return [
            LexicalHit(int(row), min(1.0, float(scores[row]) / norm), float(scores[row]))
            for row in top
            if scores[row] > 0
        ]

    def analyze(self, query: str) -> QueryTokens:
        """``query``'s words as this index tokenises them, in order, with their IDF weights."""
        stems = query_stems(query)
        return QueryTokens(
            stems=tuple(stems),
            ids=tuple(self._token_ids.get(s, -1) for s in stems),
            weights=tuple(self._idf.get(s, self._unknown_idf) for s in stems),
        )

    def tokens(self, row: int) -> npt.NDArray[np.int32]:
        """Row ``row``'s token ids in text order (stopwords removed, stemmed)."""
        return self._flat[self._offsets[row] : self._offsets[row + 1]]

    def knows(self, word: str) -> bool:
        """Whether the stem of ``word`` occurs anywhere in the indexed texts."""
        return stem(lexical_form(word)) in self.vocabulary
