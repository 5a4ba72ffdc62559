"""Reading follow-up questions with the turns before them, on the bundled article's facts: its
real vocabulary (BM25 index) and the speakers ``index.attribution`` finds in it."""

from __future__ import annotations

import pytest

from index.attribution import SpeakerContext, attribute_speakers
from index.corpus import BUNDLED_CORPUS_DIR
from retrieval.conversation import (
    CorpusFacts,
    Turn,
    answered_person,
    make_turn,
    person_name,
    quoted_names,
    read_question,
    speaker_spans,
    topic_span,
)
from retrieval.lexical import LexicalIndex
from retrieval.query import name_tokens

BLINKEN = (
    "“The two leaders welcomed ongoing efforts to maintain open channels of communication,” the "
    "readout stated, noting Secretary of State Antony Blinken will travel to China."
)
KIRBY = (
    "National Security Council spokesman John Kirby told reporters that Biden discussed "
    "House-passed legislation that would require TikTok to be spun off from ByteDance."
)


@pytest.fixture(scope="module")
def facts() -> CorpusFacts:
    paragraphs = [
        line
        for line in (BUNDLED_CORPUS_DIR / "xi-biden-call.txt").read_text("utf-8").splitlines()
        if line.strip()
    ]
    context = SpeakerContext()
    speakers = {
        name for p in paragraphs for names in attribute_speakers([p], context) for name in names
    }
    return CorpusFacts(
        knows=LexicalIndex(paragraphs).knows,
        speaker_tokens=frozenset(t for name in speakers for t in name_tokens(name)),
    )


def turn(question: str, facts: CorpusFacts, quote: str = "") -> Turn:
    return make_turn(question, quote, facts)


def read(question: str, facts: CorpusFacts, *previous: str) -> str:
    history = [turn(q, facts) for q in previous]
    return read_question(question, history, facts).understood_as


# -- what a turn remembers ---------------------------------------------------------------------
def test_a_turn_keeps_the_speaker_before_the_reporting_verb_and_the_topic(
    facts: CorpusFacts,
) -> None:
    kept = turn("What did Biden say about China's trade tactics?", facts, quote=KIRBY)
    assert kept == Turn(
        question="What did Biden say about China's trade tactics?",
        quote=KIRBY,
        speakers=("Biden",),
        topic="China's trade tactics",
    )
    assert speaker_spans("How did the White House describe the call?", facts) == (
        "the White House",
    )
    assert speaker_spans("Who will travel to China?", facts) == ()


@pytest.mark.parametrize(
    ("question", "topic"),
    [
        ("What did Xi say about US-China relations?", "US-China relations"),  # after "about"
        ("Which company owns TikTok?", "TikTok"),  # the last name
        ("Was North Korea discussed?", "North Korea"),
        ("When was the call?", "the call"),  # a reporting verb used as a noun
        ("How long was the meeting?", "the meeting"),  # "how long" is the question's form
        ("What's 2+2?", ""),
    ],
)
def test_topic_of_a_question(question: str, topic: str, facts: CorpusFacts) -> None:
    assert topic_span(question, facts) == topic


# -- questions that stand on their own ---------------------------------------------------------
@pytest.mark.parametrize(
    "question",
    [
        "Was North Korea discussed?",
        "Who will travel to China?",
        "What did Xi say about Taiwan?",
        # "it" is the subject of what the Party says: bound in the question itself.
        "What does the Communist Party say it will do about Taiwan?",
        # "his" after a name of the same clause.
        "What did Xi say about his commitments?",
        # "that" as a determiner and as a conjunction.
        "Did Biden raise that issue?",
        "Did Kirby say that TikTok must be sold?",
        # "they" is never resolved: it means the document's actors as a whole.
        "Did they discuss climate change?",
        "What did Xi warn about?",  # a stranded preposition asks for the topic itself
    ],
)
def test_a_question_that_stands_alone_is_left_as_typed(question: str, facts: CorpusFacts) -> None:
    reading = read_question(
        question, [turn("What did Biden say about TikTok?", facts, quote=KIRBY)], facts
    )
    assert reading.understood_as == question and not reading.rewritten
    assert reading.reason == "standalone"


def test_without_history_nothing_is_rewritten(facts: CorpusFacts) -> None:
    assert read_question("Who owns it?", (), facts).understood_as == "Who owns it?"


# -- pronouns ----------------------------------------------------------------------------------
def test_it_takes_the_topic_of_the_previous_turn(facts: CorpusFacts) -> None:
    reading = read_question(
        "Who owns it?", [turn("What did Biden say about TikTok?", facts)], facts
    )
    assert (reading.understood_as, reading.reason) == ("Who owns TikTok?", "pronoun")
    assert read("When was it?", facts, "How long was the call?") == "When was the call?"
    assert (
        read("What is its name?", facts, "Which company owns TikTok?") == "What is TikTok's name?"
    )
    # An object after a reporting verb is not bound by the subject: "call it" is Taiwan.
    assert read("What did Xi call it?", facts, "What does China claim about Taiwan?") == (
        "What did Xi call Taiwan?"
    )


def test_a_leading_conjunction_is_dropped_and_the_pronoun_resolved(facts: CorpusFacts) -> None:
    assert read("And what did Biden say about it?", facts, "What did Xi say about Taiwan?") == (
        "What did Biden say about Taiwan?"
    )


def test_he_and_his_take_the_speaker_asked_about(facts: CorpusFacts) -> None:
    assert read("What is his job?", facts, "What did John Kirby tell reporters?") == (
        "What is John Kirby's job?"
    )
    assert read("What did he warn about?", facts, "What did Xi say about the economy?") == (
        "What did Xi warn about?"
    )


def test_after_a_who_question_he_is_the_person_the_answer_named(facts: CorpusFacts) -> None:
    history = [turn("Who will travel to China?", facts, quote=BLINKEN)]
    assert read_question("What is his title?", history, facts).understood_as == (
        "What is Antony Blinken's title?"
    )
    # The acronym in the question covers its expansion in the quote.
    history = [turn("Who is the NSC spokesman?", facts, quote=KIRBY)]
    assert read_question("What did he tell reporters?", history, facts).understood_as == (
        "What did John Kirby tell reporters?"
    )


def test_that_as_a_pronoun_takes_the_topic(facts: CorpusFacts) -> None:
    assert read("Who raised that?", facts, "Was fentanyl discussed?") == "Who raised fentanyl?"
    assert read("What does this mean?", facts, "What did Xi say about Taiwan?") == (
        "What does Taiwan mean?"
    )


def test_the_most_recent_turn_with_a_referent_is_used(facts: CorpusFacts) -> None:
    history = [
        turn("What did Kirby say about TikTok?", facts),
        turn("Was fentanyl discussed?", facts),  # no person in it
    ]
    assert read_question("What is his job?", history, facts).understood_as == (
        "What is Kirby's job?"
    )


# -- ellipses ----------------------------------------------------------------------------------
def test_and_a_speaker_asks_the_same_of_them(facts: CorpusFacts) -> None:
    reading = read_question("And Xi?", [turn("What did Biden stress about Taiwan?", facts)], facts)
    # The previous speaker's verb is theirs: the new one is asked what they said.
    assert (reading.understood_as, reading.reason) == ("What did Xi say about Taiwan?", "ellipsis")
    # "How did X describe" keeps its verb, and one "the".
    assert read("And the White House?", facts, "How did China describe the call?") == (
        "How did the White House describe the call?"
    )


def test_and_an_unknown_name_replaces_the_speaker(facts: CorpusFacts) -> None:
    assert read("And Macron?", facts, "What did Xi say about Taiwan?") == (
        "What did Macron say about Taiwan?"
    )


def test_what_about_replaces_the_topic(facts: CorpusFacts) -> None:
    assert read(
        "What about technology?", facts, "What did Biden say about China's trade tactics?"
    ) == ("What did Biden say about technology?")
    assert read("and about Russia?", facts, "What did Biden say about TikTok?") == (
        "What did Biden say about Russia?"
    )
    assert read("How about the South China Sea?", facts, "Was North Korea discussed?") == (
        "Was the South China Sea discussed?"
    )
    # "and about" marks a topic even when it names a speaker ...
    assert read("And about China?", facts, "What did Biden say about Russia?") == (
        "What did Biden say about China?"
    )
    # ... while "what about" a speaker asks the same of them.
    assert read("What about Xi?", facts, "What did Biden say about Russia?") == (
        "What did Xi say about Russia?"
    )


def test_an_ellipsis_without_a_topic_before_it_adds_one(facts: CorpusFacts) -> None:
    assert read("And about Taiwan?", facts, "What did Xi say?") == "What did Xi say about Taiwan?"


def test_and_followed_by_a_clause_is_not_an_ellipsis(facts: CorpusFacts) -> None:
    reading = read_question(
        "And who will travel to China?", [turn("What did Xi say about Taiwan?", facts)], facts
    )
    assert reading.understood_as == "And who will travel to China?"


# -- a speaker without a topic -----------------------------------------------------------------
def test_a_speaker_without_a_topic_takes_the_previous_topic(facts: CorpusFacts) -> None:
    reading = read_question(
        "What did Biden say?", [turn("What did Xi say about Taiwan?", facts)], facts
    )
    assert (reading.understood_as, reading.reason) == (
        "What did Biden say about Taiwan?",
        "no topic",
    )


# -- names in an answer ------------------------------------------------------------------------
def test_names_in_a_quote_and_people_without_titles() -> None:
    assert quoted_names(BLINKEN) == ["Secretary of State Antony Blinken", "China"]
    assert person_name("Secretary of State Antony Blinken") == "Antony Blinken"
    assert person_name("US President Joe Biden") == "Joe Biden"
    assert person_name("China") == "China"
    assert answered_person(Turn("Who will travel to China?", quote=BLINKEN)) == "Antony Blinken"
    assert answered_person(Turn("Who will travel to China?")) == ""


def test_it_never_refers_to_a_plural(facts: CorpusFacts) -> None:
    history = [
        turn("What did Biden say about TikTok?", facts),
        turn("What did John Kirby tell reporters?", facts),
    ]
    # Not "reporters": the latest singular topic.
    assert read_question("Who owns it?", history, facts).understood_as == "Who owns TikTok?"
    alone = [turn("What did John Kirby tell reporters?", facts)]
    assert read_question("Who owns it?", alone, facts).understood_as == "Who owns it?"


@pytest.mark.parametrize("line", ["Ok, thanks!", "and so?", "Well then."])
def test_a_conjunction_before_nothing_to_ask_about_is_not_an_ellipsis(
    line: str, facts: CorpusFacts
) -> None:
    reading = read_question(line, [turn("What did Xi say about Taiwan?", facts)], facts)
    assert reading.understood_as == line


def test_who_is_a_name_makes_that_name_the_person(facts: CorpusFacts) -> None:
    history = [turn("Who is John Kirby?", facts, quote=KIRBY)]
    # The person asked about, not a name from the answer; and not "about John Kirby" himself.
    assert read_question("What did he say?", history, facts).understood_as == (
        "What did John Kirby say?"
    )
