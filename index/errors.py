"""readout's error tree. Every error carries a message fit to show a person.

    ReadoutError
    ├── ConfigError        a setting is missing or wrong
    ├── CorpusError        a path to index is missing or holds nothing usable
    ├── ModelError         the embedding model is missing, corrupt or fails its hash check
    ├── IndexMissing       no index has been built in this store yet
    ├── IndexMismatch      the index was built with another model; rebuild it
    ├── StoreCorrupt       the store exists but cannot be read
    ├── StoreUnavailable   the store (e.g. a Chroma server) cannot be reached right now
    ├── IndexLocked        another re-index holds the writer lock
    ├── AnswerTimeout      a question took longer than READOUT_ANSWER_TIMEOUT to answer
    ├── QuestionError      a question is empty or too long
    └── QuestionLogError   the question log cannot be opened or read (``bot.questions``)

``QuestionLogError`` is defined with the question log in ``bot/questions/`` (an operations
concern of the bot layer), but it belongs to this tree and is caught with it.

Adapters show ``str(error)`` for these and nothing else: anything outside this tree is a bug,
logged with its traceback and answered with a generic apology.
"""

from __future__ import annotations


class ReadoutError(Exception):
    """Base class: the message is written for the person using readout."""


class ConfigError(ReadoutError):
    """A setting is missing or invalid."""


class CorpusError(ReadoutError):
    """A path to index does not exist or yields no documents."""


class ModelError(ReadoutError):
    """The embedding model cannot be found, verified or loaded."""


class IndexMissing(ReadoutError):
    """The store holds no index yet."""


class IndexMismatch(ReadoutError):
    """The index was built with a different embedding model."""


class StoreCorrupt(ReadoutError):
    """The store exists on disk but cannot be opened or read."""


class StoreUnavailable(ReadoutError):
    """The store cannot be reached right now (a server down or hanging)."""


class IndexLocked(ReadoutError):
    """Another process is re-indexing this store."""


class QuestionError(ReadoutError):
    """A question is empty or too long to answer."""


class AnswerTimeout(ReadoutError):
    """Answering took longer than the configured answer timeout."""
