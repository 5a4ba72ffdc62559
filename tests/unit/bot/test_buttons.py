"""Signed button values (bot.buttons): what they carry, their size limits, refusing forgeries."""

from __future__ import annotations

import pytest

from bot.buttons import (
    SLACK_VALUE_LIMIT,
    AnswerRef,
    ButtonSigner,
    InvalidButton,
    _b64,
    answer_ref,
    derive_key,
)
from bot.discord_app.buttons import CUSTOM_ID_LIMIT, VOTE_ID
from retrieval.answer import Answer

REF = AnswerRef("0123456789abcdef", 1717171717123, "What did Biden say about Taiwan?")


def signer(secret: str = "a deployment's signing secret") -> ButtonSigner:
    return ButtonSigner(derive_key(secret))


def test_a_sealed_value_opens_to_what_was_sealed() -> None:
    value = signer().seal(REF)
    assert signer().open(value) == REF  # another process with the same secret agrees
    assert len(value) <= SLACK_VALUE_LIMIT


def test_the_short_form_carries_no_question_and_fits_in_a_discord_custom_id() -> None:
    short = signer().seal_short(REF)
    assert signer().open(short) == AnswerRef(REF.answer_id, REF.index_version)
    longest = VOTE_ID.format(vote="down", ref=short)
    assert len(longest) <= CUSTOM_ID_LIMIT
    listing = signer().seal_short(AnswerRef(REF.answer_id, 3, asked=False))
    assert signer().open(listing) == AnswerRef(REF.answer_id, 3, asked=False)
    assert len(VOTE_ID.format(vote="down", ref=listing)) <= CUSTOM_ID_LIMIT


def test_a_question_too_long_for_slack_is_left_out_not_cut() -> None:
    ref = AnswerRef("ab", 2, "ü" * SLACK_VALUE_LIMIT)
    value = signer().seal(ref)
    assert len(value) <= SLACK_VALUE_LIMIT
    assert signer().open(value) == AnswerRef("ab", 2)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda v: v.replace("0123456789abcdef", "0123456789abcdee"),  # another answer
        lambda v: v.replace(":1717171717123:", ":1717171717124:"),  # another index version
        lambda v: v.rsplit(":", 1)[0] + ":" + _b64(b"What did Xi say about Taiwan?"),
        lambda v: v.replace(":V2hh", ":W2hh"),  # the question's first character
        lambda v: v + "%%",  # not base64
        lambda v: v.split(":", 4)[1],  # a bare answer id, as readout's buttons once held
        lambda v: "",
        lambda v: "r1:zz:1:" + "A" * 22 + ":q",  # not an answer id
        lambda v: v.replace("r1:", "r2:"),
    ],
)
def test_an_altered_or_forged_value_is_refused(tamper: object) -> None:
    value = signer().seal(REF)
    assert callable(tamper)
    with pytest.raises(InvalidButton):
        signer().open(tamper(value))


def test_a_listing_flag_cannot_be_added_or_removed() -> None:
    asked = signer().seal_short(AnswerRef("ab", 1))
    listing = signer().seal_short(AnswerRef("ab", 1, asked=False))
    with pytest.raises(InvalidButton):
        signer().open(asked + ":l")
    with pytest.raises(InvalidButton):
        signer().open(listing.removesuffix(":l"))


def test_another_secret_is_another_key() -> None:
    with pytest.raises(InvalidButton):
        signer("another deployment").open(signer().seal(REF))
    assert derive_key("x") == derive_key("x") and len(derive_key("x")) == 32
    assert derive_key("x") != derive_key("y")


def test_from_secrets_takes_the_first_secret_set() -> None:
    sealed = ButtonSigner.from_secrets("", "platform secret").seal(REF)
    assert ButtonSigner.from_secrets("platform secret").open(sealed) == REF
    with pytest.raises(InvalidButton):
        ButtonSigner.from_secrets("button secret", "platform secret").open(sealed)
    # no secret at all: a random key, so one process's buttons mean nothing to another
    with pytest.raises(InvalidButton):
        ButtonSigner.from_secrets("", "").open(ButtonSigner.from_secrets("").seal(REF))


def test_answer_ref_carries_the_question_as_understood() -> None:
    answer = Answer(
        "And Biden?",
        "Not covered.",
        True,
        index_version=7,
        understood_as="What did Biden say about Taiwan?",
    )
    assert answer_ref(answer, "ab") == AnswerRef("ab", 7, "What did Biden say about Taiwan?")
    assert answer_ref(answer, "ab", asked=False) == AnswerRef("ab", 7, "", asked=False)


def test_a_follow_up_carries_its_words_and_the_question_before_it() -> None:
    ref = AnswerRef("ab", 3, "What did Biden say about Taiwan?", "And Biden?", "What did Xi say?")
    assert signer().open(signer().seal(ref)) == ref
    tampered = signer().seal(AnswerRef("ab", 3, ref.question, ref.typed, "What did Li say?"))
    mac = signer().seal(ref).split(":")[3]
    with pytest.raises(InvalidButton):  # another context under the first one's MAC
        signer().open(":".join([*tampered.split(":")[:3], mac, tampered.split(":")[4]]))
    answer = Answer("And Biden?", "q", True, index_version=3, understood_as=ref.question)
    assert answer_ref(answer, "ab", follows="What did Xi say?") == ref
