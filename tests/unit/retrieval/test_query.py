from __future__ import annotations

from retrieval.query import (
    QueryTerms,
    acronym_pattern,
    analyze_question,
    expected_answer_type,
    has_answer_type,
    name_tokens,
)

VOCABULARY = {"taiwan", "xi", "biden", "call", "tiktok", "red", "line", "spokesman"}


def analyze(question: str, expansions: dict[str, str] | None = None) -> QueryTerms:
    return analyze_question(
        question,
        knows=lambda word: word.lower() in VOCABULARY,
        speaker_tokens={"xi", "biden"},
        expand_acronym=lambda acronym: (expansions or {}).get(acronym),
    )


def test_key_terms_drop_question_words() -> None:
    terms = analyze("What did Xi say about Taiwan?")
    assert terms.key_terms == ("xi", "taiwan")
    assert terms.missing == ()
    assert terms.speaker_tokens == ("xi",)
    assert terms.topic_query == "taiwan"


def test_missing_capitalised_word_is_a_missing_name() -> None:
    terms = analyze("What did the Pope say about the call?")
    assert terms.missing == ("pope",)
    assert terms.missing_names == ("pope",)
    assert terms.coverage == 0.5


def test_lowercase_missing_word_is_not_a_name() -> None:
    terms = analyze("Tell me a joke")
    assert terms.missing == ("joke",)
    assert terms.missing_names == ()


def test_speaker_needs_a_speech_verb() -> None:
    assert analyze("Who called Taiwan the first red line?").speaker_tokens == ()
    assert analyze("Where is Biden?").speaker_tokens == ()
    assert analyze("What did Biden stress about Taiwan?").speaker_tokens == ("biden",)


def test_unknown_acronym_is_expanded_and_replaced_in_the_topic() -> None:
    terms = analyze("Who is the NSC spokesman?", {"NSC": "national security council"})
    assert terms.missing == ()
    assert terms.expansions == ("national security council",)
    assert terms.topic_query == "spokesman national security council"


def test_unexpandable_acronym_counts_as_a_missing_name() -> None:
    assert analyze("What's the GDP of India?").missing_names == ("gdp", "india")


def test_question_with_no_key_terms() -> None:
    terms = analyze("What's 2+2?")
    assert terms.key_terms == ()
    assert terms.coverage == 1.0


def test_acronym_pattern_two_letters_may_be_lowercase() -> None:
    text = "cooperation on artificial intelligence and climate"
    assert acronym_pattern("AI").search(text).group(0) == "artificial intelligence"  # type: ignore[union-attr]


def test_acronym_pattern_longer_needs_capitalised_words() -> None:
    assert acronym_pattern("NSC").search("the National Security Council said") is not None
    assert acronym_pattern("NSC").search("no such comment") is None


def test_answer_types() -> None:
    assert expected_answer_type("When was the call?") == "time"
    assert expected_answer_type("How long was the call?") == "duration"
    assert expected_answer_type("How many people came?") == "quantity"
    assert expected_answer_type("Who called?") is None
    assert has_answer_type("duration", "the one-hour-45-minute conversation")
    assert has_answer_type("time", "spoke on the phone Tuesday")
    assert not has_answer_type("time", "spoke on the phone")
    assert not has_answer_type("time", "May be called more than once.")
    assert has_answer_type("time", "It was signed in May.")
    assert has_answer_type("time", "on May 5 they met")


def test_acronym_key_terms_keep_their_capitals() -> None:
    terms = analyze_question(
        "What is the purpose of the call according to US officials?",
        knows=lambda word: True,
        speaker_tokens=(),
        expand_acronym=lambda acronym: None,
    )
    assert "US" in terms.key_terms and "us" not in terms.key_terms
    assert "US" in terms.topic_query.split()


def test_name_tokens_drop_possessives() -> None:
    assert name_tokens("China’s Foreign Ministry") == ["china", "foreign", "ministri"]
    assert name_tokens("US officials") == ["us", "offici"]


def test_question_typed_in_capitals_is_read_as_words_not_acronyms() -> None:
    shouted = analyze("WHAT DID XI SAY ABOUT TAIWAN?")
    assert shouted.key_terms == ("xi", "taiwan")
    assert shouted.missing_names == ()
    assert shouted.speaker_tokens == ("xi",)
    acronym = analyze("WHO IS THE NSC SPOKESMAN?", {"NSC": "national security council"})
    assert acronym.expansions == ("national security council",)
    assert acronym.missing == ()
