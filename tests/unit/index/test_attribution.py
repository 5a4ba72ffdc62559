from __future__ import annotations

import pytest

from index.attribution import SpeakerContext, attribute_speakers, find_speakers


@pytest.mark.parametrize(
    ("sentence", "speakers"),
    [
        ("Xi said the talks went well.", ["Xi"]),
        ("Biden also expressed concerns about TikTok.", ["Biden"]),
        (
            "National Security Council spokesman John Kirby told reporters that it mattered.",
            ["John Kirby"],
        ),
        ("Xi, for his part, called for the two sides to value peace.", ["Xi"]),
        ("It was productive, said Blinken.", ["Blinken"]),
        ("Talks resumed, according to China’s readout.", ["China"]),
        ("The issue was reflected in Xi’s comments to Biden.", ["Xi"]),
        ("China’s Foreign Ministry said the exchange was candid.", ["China’s Foreign Ministry"]),
        ("US President Joe Biden stressed the need for calm.", ["Joe Biden"]),
        ("The two leaders spoke on Tuesday.", []),
        (
            "It was a check-in, a US senior administration official told reporters.",
            ["US senior administration official"],
        ),
    ],
)
def test_find_speakers(sentence: str, speakers: list[str]) -> None:
    assert find_speakers(sentence) == speakers


def test_pronoun_refers_to_last_named_speaker_across_sentences() -> None:
    result = attribute_speakers(["Biden stressed the need for calm.", "He also warned of risks."])
    assert result == [("Biden",), ("Biden",)]


def test_the_readout_refers_to_the_source_named_earlier() -> None:
    context = SpeakerContext()
    attribute_speakers(["They agreed, according to a White House readout."], context)
    later = attribute_speakers(["“We will talk again,” the readout stated."], context)
    assert later == [("White House",)]


def test_a_modified_source_refers_to_a_matching_speaker() -> None:
    context = SpeakerContext()
    result = attribute_speakers(
        [
            "China’s Foreign Ministry said the exchange was candid.",
            "Relations are stabilizing, a ministry readout said.",
        ],
        context,
    )
    assert result[1] == ("China’s Foreign Ministry",)
