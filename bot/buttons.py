"""Stateless answer buttons: what a "Show sources" or 👍/👎 button carries, signed.

A click may reach any replica behind a load balancer, or a process started after the answer
was posted, so a button cannot point into one process's memory. Its value carries what is
needed to find the answer again, with an HMAC so that a value someone made up or altered is
refused:

* the **answer id** (the question log's ``answer_id``): votes are recorded against it, by
  whichever process handles the click, however old the answer;
* the **index version** the answer was composed from;
* the **question as readout understood it** (the rewrite, for a follow-up), when the platform
  leaves room for it; for a follow-up also the words as typed and the question before it,
  which is the conversation context needed to answer it the same way again (a follow-up that
  asks another speaker leaves out the quote just shown).

Two encodings, for the platforms' limits:

* :meth:`ButtonSigner.seal` (Slack's ``value``, at most 2,000 characters):
  ``r1:<answer id>:<index version>:<mac>:<questions>``, the questions base64url-encoded
  (understood, then for a follow-up: typed and previous, separated by NUL). They are left out
  when they would not fit; then they are looked up in the question log.
* :meth:`ButtonSigner.seal_short` (inside Discord's ``custom_id``, at most 100 characters):
  ``<answer id>:<index version>:<mac>`` (``:l`` appended for a ``/quote`` or ``/source``
  listing, which only the process that made it can show again). The question is found in
  the question log (``READOUT_QUESTION_LOG``, which every replica of one deployment shares),
  or else read back from the clicked message itself, whose embed shows the question and how
  it was read.

Rebuilding "Show sources" re-answers the recorded question against the *current* index (the
answer is deterministic, so for an unchanged index it is the answer shown); when the index
version has moved on since, the sources are those of the current index and the reply says so.

The MAC is HMAC-SHA256 over everything the value carries, cut to 128 bits
(base64url, 22 characters). The key is ``READOUT_BUTTON_SECRET`` when set; otherwise it is
derived (HKDF, RFC 5869, with SHA-256) from the platform's own secret (Slack's signing secret,
else the bot token; Discord's bot token), so replicas of one deployment agree without more
configuration. Rotating that secret invalidates the buttons already posted; set
``READOUT_BUTTON_SECRET`` to keep them working across a rotation. Without any secret at all
(tests, a local run) the key is random per process and buttons work only in that process.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import secrets
from dataclasses import dataclass

from retrieval.answer import Answer

log = logging.getLogger(__name__)

SLACK_VALUE_LIMIT = 2000  # Slack refuses a button whose value is longer
MAC_BYTES = 16
_VERSION = "r1"
_SALT = b"readout button key v1"
_INFO = b"readout answer buttons"
_ANSWER_ID = re.compile(r"[0-9a-f]{1,64}")
_INDEX_VERSION = re.compile(r"[0-9]{1,19}")
_MAC = re.compile(r"[A-Za-z0-9_-]{22}")
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")


class InvalidButton(ValueError):
    """A button value that is malformed, or whose MAC does not match (forged or altered)."""


@dataclass(frozen=True, slots=True)
class AnswerRef:
    """What a button says about the answer it is under."""

    answer_id: str
    index_version: int = 0
    question: str = ""  # as understood (the rewrite for a follow-up); "" when not carried
    typed: str = ""  # a follow-up's words as typed ("" when it was read as typed)
    follows: str = ""  # for a follow-up, the question before it, as understood
    # False for a /quote or /source listing: its title is no question to ask again, so it is
    # rebuilt only by the process that still remembers it.
    asked: bool = True

    def __post_init__(self) -> None:
        if "\0" in self.question + self.typed + self.follows:
            raise ValueError("questions hold no NUL characters")
        if not _ANSWER_ID.fullmatch(self.answer_id):
            raise ValueError("an answer id is 1-64 lowercase hex digits")
        if self.index_version < 0:
            raise ValueError("an index version is not negative")


def answer_ref(
    answer: Answer, answer_id: str, *, asked: bool = True, follows: str = ""
) -> AnswerRef:
    """The reference for buttons under ``answer`` (``follows``: the question before it, when
    it was read as a follow-up). Only a question that was *asked* (not a ``/quote`` or
    ``/source`` listing) carries its question: re-asking a listing's title would rebuild
    something else, so those rebuild only in the process that made them."""
    version = max(answer.index_version, 0)
    if not asked:
        return AnswerRef(answer_id, version, asked=False)
    if answer.understood_as and follows:
        return AnswerRef(answer_id, version, answer.understood_as, answer.question, follows)
    return AnswerRef(answer_id, version, answer.understood_as or answer.question)


def derive_key(secret: str) -> bytes:
    """A 32-byte button key from a secret: HKDF-SHA256 (extract, then one expand block)."""
    prk = hmac.new(_SALT, secret.encode(), hashlib.sha256).digest()
    return hmac.new(prk, _INFO + b"\x01", hashlib.sha256).digest()


class ButtonSigner:
    """Seals :class:`AnswerRef` s into button values and opens them again, checking the MAC."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("a button key has at least 16 bytes")
        self._key = key

    @classmethod
    def from_secrets(cls, *candidates: str) -> ButtonSigner:
        """The signer for the first non-empty secret of ``candidates`` (the button secret
        first, then the platform's); a random per-process key when all are empty."""
        for secret in candidates:
            if secret:
                return cls(derive_key(secret))
        log.warning(
            "no READOUT_BUTTON_SECRET or platform secret: answer buttons work only until "
            "this process stops"
        )
        return cls(secrets.token_bytes(32))

    def seal(self, ref: AnswerRef, *, limit: int = SLACK_VALUE_LIMIT) -> str:
        """The long form, with the question when it fits in ``limit`` characters."""
        if not ref.asked:
            return self.seal_short(ref)
        head = f"{_VERSION}:{ref.answer_id}:{ref.index_version}:"
        carried = "\0".join((ref.question, ref.typed, ref.follows)).rstrip("\0")
        value = head + self._mac(ref) + ":" + _b64(carried.encode())
        if len(value) <= limit:
            return value
        return head + self._mac(AnswerRef(ref.answer_id, ref.index_version)) + ":"

    def seal_short(self, ref: AnswerRef) -> str:
        """The short form (no question): ``<answer id>:<index version>:<mac>``, and ``:l``
        after it for a listing."""
        bare = AnswerRef(ref.answer_id, ref.index_version, asked=ref.asked)
        sealed = f"{bare.answer_id}:{bare.index_version}:{self._mac(bare)}"
        return sealed if ref.asked else sealed + ":l"

    def open(self, value: str) -> AnswerRef:
        """The reference a value carries; :class:`InvalidButton` if it is not one we sealed."""
        if value.startswith(_VERSION + ":"):
            parts = value.split(":", 4)
            if len(parts) != 5:
                raise InvalidButton("malformed button value")
            _, answer_id, version, mac, encoded = parts
            carried, asked = _unb64(encoded).split("\0"), True
            if len(carried) > 3:
                raise InvalidButton("malformed button value")
            question, typed, follows = (*carried, "", "")[:3]
        else:
            parts = value.split(":")
            asked = len(parts) == 3
            if not asked and parts[3:] != ["l"]:
                raise InvalidButton("malformed button value")
            (answer_id, version, mac), question, typed, follows = parts[:3], "", "", ""
        if not (
            _ANSWER_ID.fullmatch(answer_id)
            and _INDEX_VERSION.fullmatch(version)
            and _MAC.fullmatch(mac)
        ):
            raise InvalidButton("malformed button value")
        ref = AnswerRef(answer_id, int(version), question, typed, follows, asked)
        if not hmac.compare_digest(mac, self._mac(ref)):
            raise InvalidButton("button value with a wrong MAC")
        return ref

    def _mac(self, ref: AnswerRef) -> str:
        kind = "asked" if ref.asked else "listing"
        fields = (ref.answer_id, str(ref.index_version), ref.question, ref.typed, ref.follows, kind)
        message = "\0".join(fields).encode()
        return _b64(hmac.new(self._key, message, hashlib.sha256).digest()[:MAC_BYTES])


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> str:
    """The question a long value carries (base64url of UTF-8, so no character in it means
    anything to Slack: a question quoting ``<!channel>`` stays inert)."""
    if not _BASE64URL.fullmatch(text):  # the decoder would skip stray characters silently
        raise InvalidButton("malformed button value")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
    except ValueError:  # binascii.Error and UnicodeDecodeError are both ValueErrors
        raise InvalidButton("malformed button value") from None
