"""Who is speaking: tag each sentence with the people or bodies it quotes or reports.

News copy attributes statements in a handful of shapes, and these are what we recognise:

* a named subject before a reporting verb: "Xi said", "Biden stressed", "John Kirby told
  reporters", "Xi, for his part, called for" (an aside between commas is skipped);
* the inverted form: "..., said Xi";
* a source phrase: "according to China's readout", "according to a White House readout";
* a possessive speech noun: "Xi's comments", "Biden's remarks";
* a pronoun subject ("he warned", "she said") refers to the last named speaker in the document;
* an unnamed speaker is described: "a US senior administration official told reporters";
* "the readout said" refers to the source of that kind named earlier ("a White House readout").

Names are runs of capitalised words, without leading titles ("US President Joe Biden" -> "Joe
Biden"). This is deliberately a small, predictable rule set rather than a parser: a wrong tag only
re-orders candidates, it never puts words in anyone's mouth.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

REPORTING_VERBS = frozenset(
    """said says say told tells warned warns stressed stresses noted notes called calls urged urges
    characterized characterised characterizes emphasized emphasised emphasizes added adds described
    describes expressed expresses raised raises stated states asked asks argued argues claimed
    claims insisted insists announced announces declared declares explained explains acknowledged
    acknowledges agreed agrees suggested suggests reiterated reiterates vowed vows pledged pledges
    accused accuses criticized criticised praised praises confirmed confirms denied denies wrote
    writes cautioned cautions complained complains promised promises recalled recalls replied
    replies responded responds reported reports mentioned mentions proposed proposes
    welcomed welcomes""".split()
)
SPEECH_NOUNS = frozenset(
    "readout statement statements comments comment remarks remark words speech testimony "
    "account view views position".split()
)
# Capitalised words that are titles or sentence furniture, not names.
TITLE_WORDS = frozenset(
    """the a an us u.s. president vice secretary minister prime premier leader chairman chairwoman
    spokesman spokeswoman spokesperson senator sen rep representative governor gov mr mrs ms dr
    prof professor general gen chief official officials ambassador director deputy chinese
    american national senior former then in on at for and but as when while after before
    however meanwhile also""".split()
)
# Unnamed speakers news copy quotes: "a senior administration official told reporters".
SPEAKER_NOUNS = frozenset(
    """official officials spokesman spokeswoman spokesperson spokespeople minister ministers
    diplomat diplomats aide aides source sources analyst analysts lawmaker lawmakers ministry
    administration government officer officers negotiator negotiators""".split()
)
PRONOUNS = frozenset({"he", "she"})
_ADVERBS = frozenset({"also", "then", "again", "later", "once", "previously"})

_TOKEN = re.compile(r"[A-Za-z](?:[\w’'\-]|\.(?=\w))*|[,;:“”\"()]")
_POSSESSIVE = re.compile(r"(?:’s|'s|’|')$")


@dataclass
class SpeakerContext:
    """What earlier sentences of the same document established: the last named speaker (for
    "he said") and who each kind of source belongs to (for "the readout said")."""

    last_speaker: str | None = None
    source_owners: dict[str, str] = field(default_factory=dict)
    named: list[str] = field(default_factory=list)


def attribute_speakers(
    sentences: Sequence[str], context: SpeakerContext | None = None
) -> list[tuple[str, ...]]:
    """Speakers for each sentence of a paragraph; ``context`` carries over between paragraphs."""
    context = context if context is not None else SpeakerContext()
    return [tuple(find_speakers(sentence, context)) for sentence in sentences]


def find_speakers(sentence: str, context: SpeakerContext | None = None) -> list[str]:
    """Names this sentence attributes a statement to, in order of appearance."""
    context = context if context is not None else SpeakerContext()
    tokens = _TOKEN.findall(sentence)
    lowered = [t.lower() for t in tokens]
    speakers: list[str] = []
    for i, word in enumerate(lowered):
        if word in REPORTING_VERBS:
            if i >= 2 and lowered[i - 1] in SPEECH_NOUNS:
                owner = _earlier_source(lowered, i - 1, context)
                if owner:
                    speakers.append(owner)
                continue
            subject = _subject_before(tokens, i)
            if subject is None and i + 1 < len(tokens):
                subject = _name_at(tokens, i + 1)  # "..., said Xi"
                if subject is not None and i > 0 and tokens[i - 1] not in {",", "”", '"'}:
                    subject = None
            if subject == "":
                subject = context.last_speaker
            if subject:
                speakers.append(subject)
                context.last_speaker = subject
                context.named.append(subject)
        elif word == "according" and i + 1 < len(lowered) and lowered[i + 1] == "to":
            source = _name_at(tokens, i + 2, allow_possessive=True)
            if source:
                speakers.append(source)
                noun = _noun_after_name(lowered, i + 2)
                if noun:
                    context.source_owners[noun] = source
        elif word in SPEECH_NOUNS and i > 0 and tokens[i - 1][:1].isupper():
            # "Xi's comments", "a White House readout": the name owns the statement.
            owner = _name_ending_at(tokens, i - 1)
            if owner:
                speakers.append(owner)
                context.source_owners[word] = owner
    return list(dict.fromkeys(speakers))


def _earlier_source(lowered: list[str], noun: int, context: SpeakerContext) -> str | None:
    """Who "the readout" / "a ministry readout" refers to, from earlier sentences.

    With a modifier, the most recent speaker whose name holds it ("ministry" -> "China's Foreign
    Ministry"); without one, whoever the last source of that kind belonged to.
    """
    before = lowered[noun - 1]
    if before in {"the", "a", "an"}:
        return context.source_owners.get(lowered[noun])
    if noun >= 2 and lowered[noun - 2] in {"the", "a", "an"} and before.isalpha():
        for name in reversed(context.named):
            if before in name.lower().split():
                return name
    return None


def _noun_after_name(lowered: list[str], start: int) -> str | None:
    """The speech noun after a name ("China's readout" -> "readout"), if there is one."""
    k = start
    while k < len(lowered) and lowered[k] in {"a", "an", "the"}:
        k += 1
    while k < len(lowered) and lowered[k] not in SPEECH_NOUNS and lowered[k][:1].isalpha():
        if k - start > 5:
            return None
        k += 1
    return lowered[k] if k < len(lowered) and lowered[k] in SPEECH_NOUNS else None


def _subject_before(tokens: list[str], verb: int) -> str | None:
    """The name (or "" for a pronoun) right before a reporting verb, skipping one aside."""
    j = verb - 1
    # Adverbs between subject and verb: "Biden also expressed", "Xi repeatedly warned".
    while j >= 0 and ((tokens[j].islower() and tokens[j].endswith("ly")) or tokens[j] in _ADVERBS):
        j -= 1
    if j >= 0 and tokens[j] == ",":
        # "Xi, for his part, called": skip back to the comma that opens the aside.
        k = j - 1
        while k >= 0 and tokens[k] != ",":
            k -= 1
        if k <= 0 or verb - k > 8:
            return None
        j = k - 1
    if j < 0:
        return None
    if tokens[j].lower() in PRONOUNS:
        return ""
    if tokens[j] in SPEAKER_NOUNS:  # lower-case: "an official", not "the Foreign Ministry"
        return _description_ending_at(tokens, j)
    return _name_ending_at(tokens, j)


def _description_ending_at(tokens: list[str], end: int) -> str | None:
    """An unnamed speaker: "a US senior administration official", "White House officials"."""
    k = end
    while k > 0 and end - k < 5 and tokens[k - 1][:1].isalpha():
        if tokens[k - 1].lower() in {"a", "an", "the", "and", "that", "but", "while"}:
            break
        k -= 1
    return " ".join(_POSSESSIVE.sub("", t) for t in tokens[k : end + 1])


def _name_ending_at(tokens: list[str], end: int) -> str | None:
    # Possessors belong to the name: "China's Foreign Ministry" speaks for China.
    words: list[str] = []
    k = end
    while k >= 0 and _is_name_word(tokens[k], possessive_ok=True):
        words.insert(0, tokens[k])
        k -= 1
    return _clean_name(words, keep_possessive=True)


def _name_at(tokens: list[str], start: int, *, allow_possessive: bool = False) -> str | None:
    k = start
    while k < len(tokens) and tokens[k].lower() in {"a", "an", "the"}:
        k += 1
    words: list[str] = []
    while k < len(tokens) and _is_name_word(tokens[k], possessive_ok=allow_possessive):
        words.append(tokens[k])
        if _POSSESSIVE.search(tokens[k]):
            break  # "China's readout": the owner is the source
        k += 1
    return _clean_name(words)


def _is_name_word(token: str, *, possessive_ok: bool) -> bool:
    if not token[:1].isupper():
        return False
    return possessive_ok or not _POSSESSIVE.search(token)


def _clean_name(words: list[str], *, keep_possessive: bool = False) -> str | None:
    cleaned = list(words)
    if cleaned:
        cleaned[-1] = _POSSESSIVE.sub("", cleaned[-1])
    if not keep_possessive:
        cleaned = [_POSSESSIVE.sub("", w) for w in cleaned]
    while cleaned and cleaned[0].lower() in TITLE_WORDS:
        cleaned.pop(0)
    if not cleaned:
        return None
    return " ".join(cleaned)
