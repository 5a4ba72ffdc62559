"""The follow-up pass (``bot.updates``) with fakes for the service and the platforms: what is
due, what is stored, abstentions, refused edits, stale claims, the settings; and how an update
renders on Slack and Discord."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from bot.discord_app.render import render_update as render_discord_update
from bot.questions.log import QuestionLog
from bot.service import AnswerService, Reply, ReplyKind
from bot.settings import DEFAULT_FOLLOW_DAYS, Settings
from bot.slack_app.render import ASK_AGAIN
from bot.slack_app.render import render_update as render_slack_update
from bot.updates import (
    CLAIM_TTL_SECONDS,
    EditRefused,
    FollowReport,
    Post,
    SourceFollower,
    Update,
)
from index.corpus import paragraph_hash
from index.errors import ConfigError
from retrieval.answer import Answer, Citation
from retrieval.engine import ParagraphHashes
from tests.support.fakes import FakeEngine

DAY = 86_400.0
NOW = 1_750_000_000.0
OLD_12 = "Xi called Taiwan the first red line."
NEW_12 = "Xi called Taiwan the most important red line."
QUESTION = "What did Xi say about Taiwan?"


def answer(quote: str, version: int, question: str = QUESTION) -> Answer:
    citation = Citation(1, "call", "Call", 12, 1, quote, 0.8, context=quote)
    return Answer.quoting(question, [citation], version)


class Answering:
    """The service's side of a pass: the live index's hashes, and a scripted new answer."""

    def __init__(self, texts: dict[str, str], version: int, new: Answer | None = None) -> None:
        self.state = ParagraphHashes(
            version, NOW - 3600, {p: paragraph_hash(t) for p, t in texts.items()}
        )
        self.new = new or answer(NEW_12, version)
        self.asked: list[str] = []

    @property
    def follows_posts(self) -> bool:
        return True

    async def paragraph_hashes(self) -> ParagraphHashes:
        return self.state

    async def reanswer(self, question: str) -> tuple[Answer, str]:
        self.asked.append(question)
        return self.new, f"new{len(self.asked)}"


class Editor:
    platform = "slack"

    def __init__(self, refuse: str = "") -> None:
        self.updates: list[Update] = []
        self.refuse = refuse

    async def edit(self, update: Update) -> None:
        if self.refuse:
            raise EditRefused(self.refuse)
        self.updates.append(update)


def post_answer(path: Path, *, at: float = NOW - DAY, message: str = "1700.0001") -> None:
    with QuestionLog(path, clock=lambda: at) as log:
        log.record_post(answer(OLD_12, 1), "a1", "slack", "C1", message)


def rows(path: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as db:
        return db.execute(sql).fetchall()


def follower(path: Path, answering: Answering, editor: Editor, **options: Any) -> SourceFollower:
    return SourceFollower(
        path, answering, [editor], **{"days": 7.0, "pace": 0.0, "clock": lambda: NOW, **options}
    )


async def test_a_post_keeps_where_it_is_and_a_hash_of_each_cited_paragraph(tmp_path: Path) -> None:
    path = tmp_path / "q.sqlite3"
    post_answer(path)
    assert rows(
        path, "SELECT answer_id, platform, channel, message, question, index_version FROM posts"
    ) == [("a1", "slack", "C1", "1700.0001", QUESTION, 1)]
    assert rows(path, "SELECT paragraph, text_hash FROM post_citations") == [
        ("call:12", paragraph_hash(OLD_12))
    ]


async def test_a_changed_paragraph_is_updated_once_and_then_follows_the_new_answer(
    tmp_path: Path,
) -> None:
    path = tmp_path / "q.sqlite3"
    post_answer(path)
    editor, answering = Editor(), Answering({"call:12": NEW_12}, 2)
    report = await follower(path, answering, editor).follow()
    assert report == FollowReport(2, checked=1, updated=1)
    [update] = editor.updates
    assert (update.post.channel, update.post.message, update.answer_id) == (
        "C1",
        "1700.0001",
        "new1",
    )
    assert answering.asked == [QUESTION]
    assert update.note == "updated: the cited text changed on 2025-06-15"
    # the post now shows v2's answer: the same version is not done twice, and it follows NEW_12
    assert await follower(path, answering, editor).follow() == FollowReport(2)
    assert rows(path, "SELECT answer_id, index_version FROM posts") == [("new1", 2)]
    assert rows(path, "SELECT text_hash FROM post_citations") == [(paragraph_hash(NEW_12),)]
    assert rows(path, "SELECT index_version, outcome FROM post_updates") == [(2, "updated")]


async def test_a_removed_paragraph_whose_question_now_abstains_gets_the_note(
    tmp_path: Path,
) -> None:
    path = tmp_path / "q.sqlite3"
    post_answer(path)
    editor = Editor()
    answering = Answering({"call:11": "Something else."}, 3, Answer.not_covered(QUESTION, 3))
    report = await follower(path, answering, editor).follow()
    assert report == FollowReport(3, checked=1, abstained=1)
    assert editor.updates[0].note.startswith("The text this answer quoted changed on 2025-06-15")
    assert rows(path, "SELECT count(*) FROM post_citations") == [(0,)]  # nothing left to follow


async def test_a_refused_edit_is_recorded_and_not_retried_for_that_version(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "q.sqlite3"
    post_answer(path)
    answering = Answering({"call:12": NEW_12}, 2)
    report = await follower(path, answering, Editor(refuse="message_not_found")).follow()
    assert report == FollowReport(2, checked=1, failed=1)
    assert "message_not_found" in caplog.text and "Traceback" not in caplog.text
    assert await follower(path, answering, Editor()).follow() == FollowReport(2)
    assert rows(path, "SELECT outcome FROM post_updates") == [("failed",)]


async def test_a_claim_left_by_a_process_that_died_is_taken_over_after_its_ttl(
    tmp_path: Path,
) -> None:
    path = tmp_path / "q.sqlite3"
    post_answer(path)
    with sqlite3.connect(path) as db:  # another replica claimed, then died before editing
        db.execute("INSERT INTO post_updates VALUES (1, 2, ?, 'claimed')", (NOW - 60,))
    answering, editor = Answering({"call:12": NEW_12}, 2), Editor()
    assert await follower(path, answering, editor).follow() == FollowReport(2)
    later = NOW + CLAIM_TTL_SECONDS
    report = await follower(path, answering, editor, clock=lambda: later).follow()
    assert report.updated == 1 and len(editor.updates) == 1


async def test_old_posts_other_platforms_and_follow_days_zero_are_left_alone(
    tmp_path: Path,
) -> None:
    path = tmp_path / "q.sqlite3"
    post_answer(path, at=NOW - 8 * DAY)
    answering, editor = Answering({"call:12": NEW_12}, 2), Editor()
    assert await follower(path, answering, editor).follow() == FollowReport(2)
    post_answer(path, message="1700.0002")
    assert await follower(path, answering, editor, days=0.0).follow() == FollowReport(2)
    discord_only = Editor()
    discord_only.platform = "discord"
    assert await follower(path, answering, discord_only).follow() == FollowReport(2)
    assert editor.updates == [] and discord_only.updates == []


def test_follow_days_is_a_setting_and_zero_turns_following_off() -> None:
    assert Settings.from_env({}).follow_days == DEFAULT_FOLLOW_DAYS == 7.0
    assert Settings.from_env({"READOUT_FOLLOW_DAYS": "0"}).follow_days == 0.0
    assert Settings.from_env({"READOUT_FOLLOW_DAYS": "2.5"}).follow_days == 2.5
    assert Settings.from_env({}).follow_interval == 30.0
    assert Settings.from_env({"READOUT_FOLLOW_INTERVAL": "5"}).follow_interval == 5.0
    with pytest.raises(ConfigError, match="READOUT_FOLLOW_DAYS must be positive"):
        Settings.from_env({"READOUT_FOLLOW_DAYS": "-1"})


def update_of(new: Answer) -> Update:
    post = Post(1, "a1", "slack", "C1", "1.2", NOW, QUESTION, 1, (("call:12", "x"),))
    return Update(post, new, "new1", "2025-06-15")


def test_slack_shows_the_new_answer_under_the_note_or_the_note_and_ask_again() -> None:
    updated = render_slack_update(update_of(answer(NEW_12, 2)))
    texts = [str(block) for block in updated.blocks]
    assert "updated: the cited text changed on 2025-06-15" in texts[1]
    assert any(NEW_12 in text for text in texts)
    buttons = updated.blocks[-1]["elements"]
    assert [b["value"] for b in buttons] == ["new1", "new1", "new1"]

    outdated = render_slack_update(update_of(Answer.not_covered(QUESTION, 2)))
    assert "changed on 2025-06-15" in outdated.text
    [button] = outdated.blocks[-1]["elements"]
    assert (button["action_id"], button["value"]) == (ASK_AGAIN, QUESTION)


def test_discord_shows_the_note_as_content_or_an_embed_saying_it_changed() -> None:
    content, embeds = render_discord_update(update_of(answer(NEW_12, 2)), corpus="Call")
    assert content == "*updated: the cited text changed on 2025-06-15*"
    assert NEW_12 in str(embeds[0].description)
    content, embeds = render_discord_update(
        update_of(Answer.not_covered(QUESTION, 2)), corpus="Call"
    )
    assert content == "" and embeds[0].title == QUESTION
    assert "changed on 2025-06-15" in str(embeds[0].description)


def test_only_answers_with_citations_are_kept_as_posts() -> None:
    kept: list[tuple[Any, ...]] = []

    class Posts:
        def record_post(self, *args: Any) -> None:
            kept.append(args)

    service = AnswerService(FakeEngine(), posts=Posts())
    try:
        cited = answer(OLD_12, 1)
        service.posted(Reply(ReplyKind.ANSWER, cited.text, cited, "a1"), "slack", "C1", "1.2")
        abstained = Answer.not_covered(QUESTION, 1)
        service.posted(Reply(ReplyKind.ANSWER, "", abstained, "a2"), "slack", "C1", "1.3")
        service.posted(Reply(ReplyKind.QUOTES, cited.text, cited, "a3"), "slack", "C1", "1.4")
    finally:
        service.close()
    assert kept == [(cited, "a1", "slack", "C1", "1.2")]
