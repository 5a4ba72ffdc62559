"""Reading a question: its key terms, the speaker it asks about, acronyms to expand.

Pure functions over the question text and facts about the corpus (its vocabulary, the speakers it
names). Nothing here knows any particular document.

* Key terms are the question's words minus stopwords and the words every question uses
  ("what", "say", "discuss", ...). A key term the corpus never uses is evidence the corpus does
  not cover the question; a *named* key term (a capitalised word or an acronym) that the corpus
  never uses is strong evidence.
* An acronym the corpus does not contain is expanded from the corpus itself: "NSC" matches the
  words "National Security Council", "AI" matches "artificial intelligence".
* "What did Xi say ..." asks for statements attributed to Xi: the speaker is recognised when a
  question word matches a name the corpus attributes statements to, next to a speech verb.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from dataclasses import dataclass

from bm25s.stopwords import STOPWORDS_EN_PLUS

from retrieval.lexical import stem

# Words that carry the shape of a question, not its topic.
QUESTION_WORDS = frozenset(
    """what whats what's who whom whose which when where why how did does do done is are was were
    say says said saying tell tells told talk talks talked talking discuss discussed discussion
    discussing mention mentioned mentions think thinks thought know knows explain explains
    describe described happen happened happens mean means give gives get gets got please
    anything something someone anyone thing things there about regarding according much many
    also could would should can may might shall let us me we our you your""".split()
) | frozenset(STOPWORDS_EN_PLUS)
# Words that, after "how", ask for a kind of answer rather than name a topic.
HOW_WORDS = frozenset("long much many often far old soon big large tall".split())
# Verbs that make "What did X <verb> ..." a question about X's statements.
SPEECH_VERBS = frozenset(
    """say says said tell told think thinks thought warn warned stress stressed call called urge
    urged want wanted claim claimed mention mentioned note noted emphasize emphasized describe
    described characterize characterized raise raised express expressed ask asked demand
    demanded insist insisted argue argued propose proposed promise promised respond responded
    react reacted comment commented according""".split()
)
_TOKEN = re.compile(r"(?u)\b\w[\w'’]*\b")
_ACRONYM = re.compile(r"^[A-Z]{2,6}s?$")


@dataclass(frozen=True, slots=True)
class QueryTerms:
    """What the question asks about, as far as words can tell."""

    key_terms: tuple[str, ...]
    missing: tuple[str, ...]
    missing_names: tuple[str, ...]
    speaker_tokens: tuple[str, ...]
    expansions: tuple[str, ...]
    expanded: tuple[str, ...] = ()
    answer_type: str | None = None  # "time", "duration" or "quantity" (expected_answer_type)
    asks_statement: bool = False  # "What did X say/warn/think...": asks what someone said

    @property
    def topic_query(self) -> str:
        """The words to match lexically: key terms without the speaker's name, acronyms
        replaced by their expansions ("what did Xi say about Taiwan" is about Taiwan)."""
        topic = [t for t in self.key_terms if stem(t) not in self.speaker_tokens]
        words = [t for t in (topic or self.key_terms) if t not in self.expanded]
        return " ".join([*words, *self.expansions])

    @property
    def coverage(self) -> float:
        """Share of key terms the corpus uses (1.0 when there are none to check)."""
        if not self.key_terms:
            return 1.0
        return 1.0 - len(self.missing) / len(self.key_terms)


def analyze_question(
    question: str,
    *,
    knows: Callable[[str], bool],
    speaker_tokens: Collection[str],
    expand_acronym: Callable[[str], str | None],
) -> QueryTerms:
    """Split ``question`` into key terms and check them against the corpus.

    ``knows(word)`` says whether the corpus uses a word; ``speaker_tokens`` are lower-cased
    words of the names statements are attributed to; ``expand_acronym`` finds the words an
    acronym stands for in the corpus, or None.
    """
    words = _TOKEN.findall(question)
    # Typed in capitals ("WHAT DID XI SAY ABOUT TAIWAN?"): shouted, not a row of acronyms and
    # names. Only a short word the corpus doesn't know as a word is taken for an acronym (NSC).
    shouted = question.isupper() and len(words) >= 3
    key_terms: list[str] = []
    missing: list[str] = []
    missing_names: list[str] = []
    expansions: list[str] = []
    expanded: list[str] = []
    for position, word in enumerate(words):
        lowered = word.lower().replace("’", "'")
        base = lowered.split("'")[0]
        is_acronym = bool(_ACRONYM.match(word)) and not (
            shouted and (base in QUESTION_WORDS or knows(base))
        )
        if (base in QUESTION_WORDS and not is_acronym) or len(base) < 2 or base.isdigit():
            continue
        if position > 0 and words[position - 1].lower() == "how" and base in HOW_WORDS:
            continue  # "how long", "how many": the form of the question, not its topic
        # An acronym keeps its capitals: "US" is not the pronoun "us" (see lexical.lexical_form).
        term = word if is_acronym else base
        key_terms.append(term)
        if knows(term):
            continue
        if is_acronym:
            expansion = expand_acronym(word.rstrip("s"))
            if expansion:
                expansions.append(expansion)
                expanded.append(term)
                continue
        missing.append(base)
        # A capitalised word that does not open the question is a name; so is an acronym.
        if is_acronym or (position > 0 and word[:1].isupper() and not shouted):
            missing_names.append(base)

    lowered_words = [w.lower() for w in words]
    asks_statement = any(w in SPEECH_VERBS for w in lowered_words)
    speakers = (
        tuple(dict.fromkeys(w for w in name_tokens(question) if w in speaker_tokens))
        if asks_statement
        else ()
    )
    return QueryTerms(
        key_terms=tuple(key_terms),
        missing=tuple(missing),
        missing_names=tuple(missing_names),
        speaker_tokens=speakers,
        expansions=tuple(expansions),
        expanded=tuple(expanded),
        answer_type=expected_answer_type(question),
        asks_statement=asks_statement,
    )


def name_tokens(text: str) -> list[str]:
    """Stemmed words of a name or question, possessives dropped ("China's" -> "china",
    "officials" -> "offici"), so a question's words match the speakers' names."""
    return [stem(re.sub(r"['’]s?$", "", w.lower())) for w in _TOKEN.findall(text)]


def acronym_pattern(acronym: str) -> re.Pattern[str]:
    """A pattern for words whose initials spell ``acronym``: AI -> "artificial intelligence".

    Two-letter acronyms may expand to lower-case words (AI, IT); longer ones only to capitalised
    names (NSC -> National Security Council), since three lower-case words with the right
    initials are far more often a coincidence than a definition.
    """
    letters = [re.escape(c) for c in acronym.lower()]
    if len(letters) == 2:
        parts = [rf"[{c}{c.upper()}][a-z’'\-]+" for c in letters]
    else:
        parts = [rf"{c.upper()}[a-z’'\-]+" for c in letters]
    words = r"[\s\-]+(?:(?:of|and|for|the)\s+)?".join(parts)
    return re.compile(rf"\b{words}\b")


# -- answer types ---------------------------------------------------------------------------
# "When ...?" is answered by a sentence holding a time, "How long ...?" by a duration: classic
# factoid-QA answer typing. It only adds evidence to sentences that already match the topic.
_NUMBER = (
    r"(?:\d[\d,.]*|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|"
    r"fifteen|twenty|thirty|forty|fifty|sixty|hundred|thousand|million|billion|a|an|half)"
)
_UNIT = r"(?:second|minute|hour|day|week|month|year|decade)s?"
ANSWER_TYPE_PATTERNS: dict[str, re.Pattern[str]] = {
    # Day and month names only capitalised: "may" and "march" are also verbs.
    "time": re.compile(
        r"\b(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday|January|February|"
        r"March|April|June|July|August|September|October|November|December|"
        # "May be called twice": the month only with a date, a year or "in"/"of" before it.
        r"May(?=\s+\d)|(?<=in )May|(?<=of )May|"
        r"[Yy]esterday|[Tt]oday|[Tt]omorrow|[Tt]onight|(?:last|next|this) (?:week|month|year)|"
        r"(?:19|20)\d\d|\d{1,2}(?::\d\d)? ?(?:am|pm|a\.m\.|p\.m\.))\b"
    ),
    "duration": re.compile(
        rf"\b{_NUMBER}[\s\-]+(?:and[\s\-]+a[\s\-]+half[\s\-]+)?{_UNIT}\b|\b{_UNIT}[\s\-]+long\b",
        re.IGNORECASE,
    ),
    "quantity": re.compile(
        r"\b\d[\d,.]*\b|\b(?:two|three|four|five|six|seven|eight|nine|ten|dozen|hundred|"
        r"thousand|million|billion|percent)\b",
        re.IGNORECASE,
    ),
}
_QUESTION_TYPES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^\s*how\s+long\b", re.IGNORECASE), "duration"),
    (re.compile(r"^\s*how\s+(?:many|much)\b", re.IGNORECASE), "quantity"),
    (re.compile(r"^\s*(?:when\b|what\s+(?:day|date|time|year|month)\b)", re.IGNORECASE), "time"),
)


def expected_answer_type(question: str) -> str | None:
    """ "time", "duration" or "quantity" when the question's form asks for one, else None."""
    for pattern, answer_type in _QUESTION_TYPES:
        if pattern.search(question):
            return answer_type
    return None


def has_answer_type(answer_type: str, text: str) -> bool:
    """Whether ``text`` contains something of ``answer_type`` (a time, duration, quantity)."""
    return bool(ANSWER_TYPE_PATTERNS[answer_type].search(text))
