"""Reading a question in the light of the conversation so far: follow-ups and ellipses.

Pure functions over the previous turns (:class:`Turn`) and facts about the corpus
(:class:`CorpusFacts`: the words it knows, the speakers it attributes statements to). Given a
new question, :func:`read_question` returns it unchanged when it stands on its own, or rewritten
so that it does: "Who owns it?" after "What did Biden say about TikTok?" reads as "Who owns
TikTok?". The engine answers the rewritten question; the answer says how it read it.

A question is a follow-up only on evidence in its own words (any one suffices):

* **ellipsis**: it opens with a conjunction or "what/how about" and a bare noun phrase ("and
  Biden?", "what about climate change?", "and about TikTok?");
* **a dangling pronoun**: he/she/him/his/her, it/its, or that/this used as a pronoun ("Why is
  that?"), with no antecedent in the question itself. A pronoun after a reporting verb
  ("What does the Party say *it* will do") or a possessive after a name ("What did Xi say about
  *his* commitments") is bound inside the question and left alone;
* **a speaker without a topic**: "What did Biden say?" asks about the topic of the last turn.

Anything else stands on its own and is returned as typed, even when it shares no word with the
previous turn: a new topic is the common case in a thread, and rewriting a complete question is
the worse error. "they/them/their" are never resolved: in questions about a document they
almost always mean its actors as a whole ("Did they discuss AI?"), which the question already
searches for.

Referents come from the most recent turn that has one:

* he/she/him/his/her: after a "who" question, the person its answer named (the first name in the
  quote the question did not mention: "Who will travel to China?" → Antony Blinken); else the
  speaker the turn asked about; else the first name in its question;
* it/its/that/this: the turn's topic: what followed "about/on/regarding", else the last name
  among its key terms ("TikTok"), else its last key words ("the call");
* "and X?", "what about X?": X takes the place of the previous speaker when X is a speaker the
  corpus knows (or a name it doesn't know, and the previous question asked about a speaker),
  else of the topic; "and about X?" always replaces the topic.

No tagger or coreference model runs here: none ships as an installable package, and the rules
above need only closed-class words (pronouns, conjunctions, prepositions), capitalisation (names
are runs of capitalised words, as ``index.attribution`` reads them) and the corpus's speakers.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from index.attribution import TITLE_WORDS
from retrieval.query import HOW_WORDS, QUESTION_WORDS, SPEECH_VERBS, name_tokens

# -- closed-class words: the only word lists here ------------------------------------------------
_PERSON = frozenset({"he", "she", "him", "his", "her", "hers"})
_THING = frozenset({"it", "its"})
_DEMONSTRATIVE = frozenset({"that", "this"})
_POSSESSIVE = frozenset({"his", "hers", "its"})  # "her" is decided by what follows it
_LEADING = frozenset({"and", "but", "also", "so", "then", "plus", "ok", "okay", "now", "well"})
_TOPIC_PREPOSITIONS = frozenset({"about", "on", "regarding", "concerning", "over"})
_DETERMINERS = frozenset({"the", "a", "an"})
_WH = frozenset({"what", "who", "whom", "whose", "which", "when", "where", "why", "how"})
_AUXILIARIES = frozenset(
    """is are was were be been will would shall should can could may might must do does did has
    have had""".split()
)
# After "that"/"this", these make it a pronoun ("Why is that?", "What does this mean?").
_PRONOUN_FOLLOWERS = _AUXILIARIES | {"mean", "means", "happen", "happened"}
_REPORTING = SPEECH_VERBS

_WORD = re.compile(r"[^\W_](?:[\w’'\-]*[^\W_])?")
_APOSTROPHE_S = re.compile(r"[’']s?$")


@dataclass(frozen=True, slots=True)
class CorpusFacts:
    """What the rewriting needs to know about the corpus: whether it uses a word, and the
    (stemmed) words of the names it attributes statements to (``Snapshot.speaker_tokens``)."""

    knows: Callable[[str], bool]
    speaker_tokens: Collection[str]


@dataclass(frozen=True, slots=True)
class Turn:
    """One answered question of a conversation, as much of it as a follow-up can refer to."""

    question: str  # as the engine understood it (the rewrite, for a follow-up)
    quote: str = ""  # the answer's first quote, "" when it abstained
    speakers: tuple[str, ...] = ()  # who it asked about, as written ("Biden", "the White House")
    topic: str = ""  # what it asked about, as written ("China's trade tactics", "the call")


@dataclass(frozen=True, slots=True)
class Reading:
    """How a question was read: ``understood_as`` equals ``question`` when it stands alone."""

    question: str
    understood_as: str
    reason: str = "standalone"  # or "ellipsis", "pronoun", "no topic"

    @property
    def rewritten(self) -> bool:
        return self.understood_as != self.question


@dataclass(frozen=True, slots=True)
class _Word:
    text: str
    lower: str
    start: int
    end: int


def _words(text: str) -> list[_Word]:
    return [
        _Word(m.group(0), m.group(0).lower().replace("’", "'"), m.start(), m.end())
        for m in _WORD.finditer(text)
    ]


def _base(word: _Word) -> str:
    return _APOSTROPHE_S.sub("", word.lower)


def _is_key(word: _Word) -> bool:
    """A word that names something (the rule of ``query.analyze_question``)."""
    base = _base(word)
    return (
        len(base) >= 2
        and not base.isdigit()
        and (base not in QUESTION_WORDS or word.text.isupper() and len(word.text) > 1)
    )


def _is_name(word: _Word, position: int) -> bool:
    """A capitalised word that does not open the sentence, or an acronym anywhere."""
    if word.text.isupper() and len(word.text) > 1:
        return True
    return word.text[:1].isupper() and position > 0 and _base(word) not in QUESTION_WORDS


def _is_speaker_word(word: _Word, facts: CorpusFacts) -> bool:
    tokens = name_tokens(word.text)
    return bool(tokens) and all(t in facts.speaker_tokens for t in tokens)


def _span(text: str, words: Sequence[_Word]) -> str:
    return text[words[0].start : words[-1].end]


def _after_determiner(words: Sequence[_Word], i: int) -> bool:
    return i > 0 and words[i - 1].lower in _DETERMINERS


def _with_determiner(text: str, words: list[_Word], first: int, last: int) -> tuple[int, int]:
    """Extend [first, last] to take a determiner just before it ("the call")."""
    if first > 0 and words[first - 1].lower in _DETERMINERS:
        return first - 1, last
    return first, last


# -- what a question is about -------------------------------------------------------------------
def speaker_spans(question: str, facts: CorpusFacts) -> tuple[str, ...]:
    """The speakers ``question`` asks about, as written: runs of speaker words before its
    reporting verb ("What did *the White House* say ...", "How did *China* describe ...")."""
    words = _words(question)
    verb = next((i for i, w in enumerate(words) if w.lower in _REPORTING), None)
    return () if verb is None else tuple(_speaker_runs(question, facts, before=verb))


def topic_span(question: str, facts: CorpusFacts) -> str:
    """What ``question`` asks about, as written: the phrase after "about/on/regarding", else the
    last name among its key terms, else its last (at most two) key words; "" if it names none."""
    words = _words(question)
    speakers = {w.lower for s in speaker_spans(question, facts) for w in _words(s)}
    key = [
        _is_key(w)
        and w.lower not in speakers
        and (w.lower not in _REPORTING or _after_determiner(words, i))  # "the call" is a topic
        and not (i > 0 and words[i - 1].lower == "how" and w.lower in HOW_WORDS)  # "how long"
        for i, w in enumerate(words)
    ]
    for i in range(len(words) - 1, -1, -1):
        if words[i].lower in _TOPIC_PREPOSITIONS and any(key[i + 1 :]):
            last = max(k for k in range(i + 1, len(words)) if key[k])
            return _span(question, words[i + 1 : last + 1])
    names = [i for i, w in enumerate(words) if key[i] and _is_name(w, i)]
    if names:
        last = names[-1]
        first = last
        while first - 1 >= 0 and key[first - 1] and _is_name(words[first - 1], first - 1):
            first -= 1
        first, last = _with_determiner(question, words, first, last)
        return _span(question, words[first : last + 1])
    keys = [i for i, flag in enumerate(key) if flag]
    if not keys:
        return ""
    last = keys[-1]
    first = last - 1 if last - 1 in keys else last
    first, last = _with_determiner(question, words, first, last)
    return _span(question, words[first : last + 1])


def make_turn(understood_as: str, quote: str, facts: CorpusFacts) -> Turn:
    """The turn to remember for a question read as ``understood_as`` and answered with
    ``quote`` (its first quote; "" for an abstention)."""
    return Turn(
        question=understood_as,
        quote=quote,
        speakers=speaker_spans(understood_as, facts),
        topic=topic_span(understood_as, facts),
    )


# -- names in an answer -------------------------------------------------------------------------
def quoted_names(quote: str) -> list[str]:
    """Runs of capitalised words in ``quote`` ("of" may join them: "Secretary of State Antony
    Blinken"), a lone common word opening the sentence ("The") left out."""
    words = _words(quote)
    names: list[str] = []
    i = 0
    while i < len(words):
        if not words[i].text[:1].isupper():
            i += 1
            continue
        j = i
        while j + 1 < len(words) and (
            words[j + 1].text[:1].isupper()
            or (
                words[j + 1].lower == "of"
                and j + 2 < len(words)
                and words[j + 2].text[:1].isupper()
            )
        ):
            j += 1
        run = words[i : j + 1]
        if not (i == 0 and len(run) == 1 and _base(run[0]) in QUESTION_WORDS):
            names.append(_span(quote, run))
        i = j + 1
    return names


def person_name(name: str) -> str:
    """A name without the titles before it: "Secretary of State Antony Blinken" → "Antony
    Blinken", "US President Joe Biden" → "Joe Biden" (titles as ``index.attribution`` has them)."""
    parts = name.split()
    i = 0
    while i < len(parts) and parts[i].lower() in TITLE_WORDS:
        i += 1
        if i < len(parts) - 2 and parts[i] == "of":
            i += 2  # "Secretary of State"
    rest = parts[i:]
    return " ".join(rest) if rest else name


def _initials(name: str) -> str:
    return "".join(w[0] for w in name.split() if w[:1].isupper())


def answered_person(turn: Turn) -> str:
    """The person a "who" question's answer names: the first name in the quote that the
    question did not mention (an acronym in the question covers its expansion: NSC)."""
    if not turn.quote:
        return ""
    asked = set(name_tokens(turn.question))
    acronyms = {w.text for w in _words(turn.question) if w.text.isupper() and len(w.text) > 1}
    for name in quoted_names(turn.quote):
        if _initials(name) in acronyms:
            continue
        if any(token in asked for token in name_tokens(name)):
            continue
        return person_name(name)
    return ""


def _asks_who(question: str) -> bool:
    words = _words(question)
    return bool(words) and words[0].lower in {"who", "whom", "whose"}


def _person_referent(history: Sequence[Turn]) -> str:
    for turn in reversed(history):
        named = [n for n in quoted_names(turn.question) if not n.isupper()]
        words = _words(turn.question)
        # "Who is John Kirby?" names its person; "Who will travel to China?" is answered by one.
        asks_identity = len(words) > 2 and words[1].lower in {"is", "was"} and named
        if _asks_who(turn.question) and not asks_identity:
            person = answered_person(turn)
            if person:
                return person
        if turn.speakers:
            return turn.speakers[0]
        if named:
            return named[0]
    return ""


def _thing_referent(history: Sequence[Turn], *, singular: bool = False) -> str:
    for turn in reversed(history):
        if turn.topic and not (singular and _looks_plural(turn.topic)):
            return turn.topic
    return ""


def _looks_plural(phrase: str) -> bool:
    """Whether a topic ends in a common noun in the plural ("reporters", "trade tactics"): "it"
    cannot refer to it. Names are exempt ("United States"), and so are "-ss", "-us", "-is"."""
    head = phrase.split()[-1]
    return (
        head.islower()
        and len(head) > 3
        and head.endswith("s")
        and not head.endswith(("ss", "us", "is", "'s", "’s"))
    )


# -- reading a question -------------------------------------------------------------------------
def read_question(question: str, history: Sequence[Turn], facts: CorpusFacts) -> Reading:
    """``question`` as it should be searched given the previous ``history`` (oldest first)."""
    if not history or not question.strip():
        return Reading(question, question)
    elliptical = _read_ellipsis(question, history, facts)
    if elliptical is not None:
        return Reading(question, elliptical, "ellipsis")
    words = _words(question)
    body = _strip_leading(question, words)
    substituted = _resolve_pronouns(body, history, facts)
    if substituted is not None:
        return Reading(question, _completed(substituted, history, facts), "pronoun")
    completed = _completed(body, history, facts)
    if completed != body:
        return Reading(question, completed, "no topic")
    return Reading(question, question)


def _strip_leading(question: str, words: list[_Word]) -> str:
    """``question`` without an opening conjunction ("And what did Biden say" → "What did...")."""
    i = 0
    while i < len(words) - 1 and words[i].lower in _LEADING:
        i += 1
    if i == 0:
        return question
    rest = question[words[i].start :].lstrip(" ,")
    return rest[:1].upper() + rest[1:]


def _read_ellipsis(question: str, history: Sequence[Turn], facts: CorpusFacts) -> str | None:
    """The rewrite of "and X?", "what about X?", "and about X?", or None if not elliptical."""
    words = _words(question)
    i = 0
    while i < len(words) and words[i].lower in _LEADING:
        i += 1
    led = i > 0
    explicit_about = False
    opening = (words[i].lower, words[i + 1].lower) if i + 1 < len(words) else None
    asked_about = opening in {("what", "about"), ("how", "about"), ("what", "of")}
    if asked_about:
        i += 2  # "What about Xi?" may ask of a speaker or about a topic: decided below
    elif i < len(words) and words[i].lower in {"about", "regarding"} and (led or i == 0):
        i += 1
        explicit_about = True
    elif not led:
        return None
    rest = words[i:]
    if not rest or rest[0].lower in _WH or rest[0].lower in _AUXILIARIES:
        return None  # "And what did Biden say ...": a question of its own, read below
    if any(w.lower in _REPORTING or w.lower in _AUXILIARIES for w in rest):
        return None  # a clause, not a noun phrase
    if not (asked_about or explicit_about) and not any(
        _is_key(w) and (_is_name(w, 1) or facts.knows(w.text)) for w in rest
    ):
        return None  # "ok thanks", "and?": names nothing a question could be about
    target = question[rest[0].start : rest[-1].end]
    base = history[-1]
    is_speaker = any(_is_speaker_word(w, facts) for w in rest if w.lower not in _DETERMINERS)
    unknown_name = any(
        _is_name(w, 1) and not facts.knows(w.text) for w in rest if w.lower not in _DETERMINERS
    )
    if not explicit_about or not base.topic:
        if base.speakers and (is_speaker or unknown_name):
            return _capitalised(_swap_speaker(base.question, base.speakers[0], target))
        if is_speaker and not base.speakers:
            spans = _speaker_runs(base.question, facts)
            if spans:
                return _capitalised(_swap_speaker(base.question, spans[0], target))
    if base.topic:
        return _capitalised(_replace(base.question, base.topic, target))
    return _capitalised(_append_topic(base.question, target))


def _swap_speaker(question: str, old: str, new: str) -> str:
    """``question`` asked of ``new`` instead of ``old``. The reporting verb was the previous
    speaker's ("What did Biden *stress* ..."): what the new one said on the topic may be put
    any other way, so after "did/does/do" it becomes "say"."""
    swapped = _replace(question, old, new)
    words = _words(swapped)
    start = swapped.find(new)
    for i, word in enumerate(words):
        if word.start < start + len(new) or word.lower not in _REPORTING:
            continue
        aux = next((w for w in reversed(words[:i]) if w.end <= start), None)
        follower = words[i + 1].lower if i + 1 < len(words) else None
        # Only "What did X stress about T" / "What did X stress?": in "How did X describe T"
        # the verb carries the question.
        if (
            aux is not None
            and aux.lower in {"did", "does", "do"}
            and (follower is None or follower in _TOPIC_PREPOSITIONS)
        ):
            return swapped[: word.start] + "say" + swapped[word.end :]
        break
    return swapped


def _speaker_runs(question: str, facts: CorpusFacts, before: int | None = None) -> list[str]:
    """Runs of speaker words in ``question`` (in its first ``before`` words, if given), each
    with a determiner before it ("the White House")."""
    words = _words(question)
    end = len(words) if before is None else before
    runs: list[str] = []
    i = 0
    while i < end:
        if _is_speaker_word(words[i], facts) and words[i].lower not in _DETERMINERS:
            j = i
            while j + 1 < end and _is_speaker_word(words[j + 1], facts):
                j += 1
            first, last = _with_determiner(question, words, i, j)
            runs.append(_span(question, words[first : last + 1]))
            i = j + 1
        else:
            i += 1
    return runs


def _resolve_pronouns(question: str, history: Sequence[Turn], facts: CorpusFacts) -> str | None:
    """``question`` with its dangling pronouns replaced by their referents, or None if it has
    none (or none can be resolved)."""
    words = _words(question)
    replacements: list[tuple[_Word, str]] = []
    for i, word in enumerate(words):
        kind = _dangling(words, i)
        if kind is None:
            continue
        referent = (
            _person_referent(history)
            if kind == "person"
            else _thing_referent(history, singular=word.lower in _THING)
        )
        if not referent:
            continue
        possessive = word.lower in _POSSESSIVE or (
            word.lower == "her" and i + 1 < len(words) and _is_key(words[i + 1])
        )
        if possessive:
            referent = referent + ("'" if referent.endswith("s") else "'s")
        replacements.append((word, referent))
    if not replacements:
        return None
    out = question
    for word, referent in reversed(replacements):
        out = out[: word.start] + referent + out[word.end :]
    return _capitalised(out)


def _dangling(words: list[_Word], i: int) -> str | None:
    """The kind, "person" or "thing", of ``words[i]`` when it is a pronoun with no antecedent
    in the question; else None."""
    lower = words[i].lower
    if lower in _PERSON:
        kind = "person"
    elif lower in _THING:
        kind = "thing"
    elif lower in _DEMONSTRATIVE:
        follower = words[i + 1].lower if i + 1 < len(words) else None
        if follower is not None and follower not in _PRONOUN_FOLLOWERS:
            return None  # "that issue", "this year": a determiner; "say that X": a conjunction
        if follower is not None and i > 0 and words[i - 1].lower in _REPORTING:
            return None
        kind = "thing"
    else:
        return None
    before = words[:i]
    antecedents = [w for w in before if _is_key(w) and w.lower not in _REPORTING]
    # The subject of a reported clause may be the one reporting: "What does the Party say it
    # will do" (binding, not a reference to an earlier turn). An object ("What did Xi call
    # it?") is never bound by its own clause's subject.
    if 0 < i < len(words) - 1 and words[i - 1].lower in _REPORTING and antecedents:
        return None
    # A possessive may refer to a name before it in the same clause: "Xi ... his commitments".
    if (lower in _POSSESSIVE or lower == "her") and any(
        _is_name(w, k) for k, w in enumerate(before) if _is_key(w)
    ):
        return None
    return kind


def _completed(question: str, history: Sequence[Turn], facts: CorpusFacts) -> str:
    """A question about what a speaker said, without a topic or a stranded preposition ("What
    did Biden say?"), completed with the topic of the last turn that had one."""
    words = _words(question)
    if not words or not any(w.lower in _REPORTING for w in words):
        return question
    if not speaker_spans(question, facts) or topic_span(question, facts):
        return question
    if words[-1].lower in _TOPIC_PREPOSITIONS | {"to", "for", "with", "at", "of"}:
        return question  # "What did Xi warn about?" asks for the topic itself
    topic = _thing_referent(history)
    asked = {t for span in speaker_spans(question, facts) for t in name_tokens(span)}
    if not topic or asked & set(name_tokens(topic)):
        return question  # "What did John Kirby say?" after "Who is John Kirby?"
    return _append_topic(question, topic)


def _append_topic(question: str, topic: str) -> str:
    stem = question.rstrip(" ?.!")
    return f"{stem} about {topic}?"


def _replace(question: str, old: str, new: str) -> str:
    """``question`` with the first ``old`` replaced by ``new``, without doubling an article
    ("the White House" for "China" keeps one "the")."""
    position = question.find(old)
    if position < 0:
        return _append_topic(question, new)
    before = question[:position]
    if new.lower().startswith(("the ", "a ", "an ")) and re.search(
        r"\b(?:the|a|an)\s+$", before, re.IGNORECASE
    ):
        before = re.sub(r"\b(?:the|a|an)\s+$", "", before, flags=re.IGNORECASE)
    return before + new + question[position + len(old) :]


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:] if text else text
