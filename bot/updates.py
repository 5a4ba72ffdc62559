"""Answers that follow their sources: when a re-index changes or removes a paragraph that a
recent answer cited, the message showing that answer is updated in place.

What it needs is kept in the question log (``bot.questions.schema``): for each answer the bot
posted, where (platform, channel, message) and a hash of each paragraph it cited
(``index.corpus.paragraph_hash``). A *follow-up pass* (:meth:`SourceFollower.follow`) compares
the posts of the last ``READOUT_FOLLOW_DAYS`` days with the live index's paragraphs, and for
each post whose cited text changed or disappeared:

* claims the (post, index version) pair in the log first: a row only one process can insert,
  so of several replicas (or a bot and ``readout index --notify``) exactly one edits a message,
  and once per index version; a claim left by a process that died mid-edit expires after
  ``CLAIM_TTL_SECONDS``;
* asks the same question again against the new index and has the platform's
  :class:`Editor` replace the message: the new answer with "updated: the cited text changed on
  DATE", or, when the documents no longer answer it, that note and an "Ask again" button;
* records how it went, logs it at INFO, and moves on at most one edit per
  ``EDIT_PACE_SECONDS`` (Slack allows ``chat.update`` about 50 times a minute; its 429s are
  retried by slack_sdk, and discord.py keeps Discord's buckets itself).

Only messages the bot recorded after posting them itself are ever touched. A running bot calls
:meth:`SourceFollower.watch`, which runs a pass at start-up and whenever the store's pointer
moves (checked every ``READOUT_FOLLOW_INTERVAL`` seconds, 30 by default); ``readout index
--notify`` runs one pass right after publishing. Nothing here imports a platform SDK: the
editors live in the adapters.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from bot.questions.log import LoggedPost, cited_hashes, save_post
from bot.questions.schema import BUSY_TIMEOUT_SECONDS, connect, transaction
from bot.settings import DEFAULT_FOLLOW_INTERVAL_SECONDS, Settings
from index.errors import ReadoutError
from retrieval.answer import Answer
from retrieval.engine import ParagraphHashes

log = logging.getLogger(__name__)

FOLLOW_POLL_SECONDS = DEFAULT_FOLLOW_INTERVAL_SECONDS
EDIT_PACE_SECONDS = 1.2  # Slack's chat.update is Tier 3: about 50 a minute
CLAIM_TTL_SECONDS = 600.0
SECONDS_PER_DAY = 86_400.0

CLAIMED = "claimed"
UPDATED = "updated"  # the message shows the new answer
ABSTAINED = "abstained"  # the message says the cited text changed, with "Ask again"
FAILED = "failed"  # the platform refused the edit (message deleted, no access): not retried


@dataclass(frozen=True, slots=True)
class Post:
    """An answer the bot posted, as the question log keeps it."""

    id: int
    answer_id: str
    platform: str
    channel: str
    message: str  # Slack's ts, Discord's message id
    posted_at: float
    question: str
    index_version: int
    cited: tuple[tuple[str, str], ...]  # (paragraph id "doc:N", text hash)

    def changed(self, hashes: Mapping[str, str]) -> tuple[str, ...]:
        """The cited paragraphs whose text differs in (or is gone from) ``hashes``."""
        return tuple(p for p, text_hash in self.cited if hashes.get(p) != text_hash)


@dataclass(frozen=True, slots=True)
class Update:
    """What an outdated message is to show instead: the new answer (or abstention) to its
    question, and the date the cited text changed."""

    post: Post
    answer: Answer
    answer_id: str
    changed_on: str  # YYYY-MM-DD, UTC: when the index version that changed it was published

    @property
    def note(self) -> str:
        if self.answer.abstained:
            return (
                f"The text this answer quoted changed on {self.changed_on}, and the documents "
                "no longer answer the question."
            )
        return f"updated: the cited text changed on {self.changed_on}"


class EditRefused(Exception):
    """The platform refused an edit for a reason worth a warning, not a traceback (the message
    was deleted, the bot lost access). The message is the platform's error code."""


class Editor(Protocol):
    """Replaces a posted answer's message on one platform (``bot.slack_app``,
    ``bot.discord_app``)."""

    platform: str

    async def edit(self, update: Update) -> None: ...


class Answering(Protocol):
    """What a pass needs from the answer service (``bot.service.AnswerService``)."""

    @property
    def follows_posts(self) -> bool: ...
    async def paragraph_hashes(self) -> ParagraphHashes: ...
    async def reanswer(self, question: str) -> tuple[Answer, str]: ...


def start_following(
    settings: Settings, answering: Answering, editors: Sequence[Editor]
) -> asyncio.Task[None] | None:
    """A running bot's watcher (:meth:`SourceFollower.watch`, checking every
    ``READOUT_FOLLOW_INTERVAL`` seconds), or None when there is nothing to follow:
    ``READOUT_FOLLOW_DAYS=0``, or no question log keeping posts. Stop it with
    :func:`stop_following`."""
    if settings.follow_days <= 0 or not answering.follows_posts:
        return None
    follower = SourceFollower(
        settings.question_log_path, answering, editors, days=settings.follow_days
    )
    watching = follower.watch(settings.follow_interval)
    return asyncio.create_task(watching, name="readout-follow-sources")


async def stop_following(task: asyncio.Task[None] | None) -> None:
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


@dataclass(frozen=True, slots=True)
class FollowReport:
    """What one pass did, for the log and ``readout index --notify``."""

    version: int
    checked: int = 0  # recent posts compared with the index
    updated: int = 0
    abstained: int = 0
    failed: int = 0
    elsewhere: int = 0  # claimed by another process

    @property
    def edited(self) -> int:
        return self.updated + self.abstained


class SourceFollower:
    """Follow-up passes over the posts in the question log at ``path``, for the platforms
    ``editors`` can edit."""

    def __init__(
        self,
        path: Path,
        answering: Answering,
        editors: Sequence[Editor],
        *,
        days: float,
        pace: float = EDIT_PACE_SECONDS,
        clock: Callable[[], float] = time.time,
        busy_timeout: float = BUSY_TIMEOUT_SECONDS,
    ) -> None:
        self._path = path
        self._answering = answering
        self._editors = {editor.platform: editor for editor in editors}
        self._window = days * SECONDS_PER_DAY
        self._pace = pace
        self._clock = clock
        self._busy_timeout = busy_timeout
        self._followed_version: int | None = None

    async def follow(self) -> FollowReport:
        """One pass: update every recent post whose cited text the live index changed."""
        current = await self._answering.paragraph_hashes()
        self._followed_version = current.version
        if self._window <= 0 or not self._editors:
            return FollowReport(current.version)
        since = self._clock() - self._window
        posts = await asyncio.to_thread(self._due, since, current.version)
        changed = [post for post in posts if post.changed(current.hashes)]
        counts = {UPDATED: 0, ABSTAINED: 0, FAILED: 0, "elsewhere": 0}
        edited = 0
        for post in changed:
            if not await asyncio.to_thread(self._claim, post, current.version):
                counts["elsewhere"] += 1
                continue
            if edited and self._pace > 0:
                await asyncio.sleep(self._pace)
            edited += 1
            outcome = await self._update(post, current)
            counts[outcome] += 1
        report = FollowReport(
            current.version,
            checked=len(posts),
            updated=counts[UPDATED],
            abstained=counts[ABSTAINED],
            failed=counts[FAILED],
            elsewhere=counts["elsewhere"],
        )
        if changed:
            log.info(
                "index v%d: %d of %d recent answers cite changed text; %d updated, %d now "
                "abstain, %d failed, %d handled elsewhere",
                report.version,
                len(changed),
                report.checked,
                report.updated,
                report.abstained,
                report.failed,
                report.elsewhere,
            )
        return report

    async def watch(self, interval: float = FOLLOW_POLL_SECONDS) -> None:
        """Run a pass now and whenever the live index version changes; until cancelled.

        A failing pass (the store unreachable, the log locked) is logged and tried again at the
        next check: following sources must never stop the bot answering."""
        while True:
            try:
                current = await self._answering.paragraph_hashes()
                if current.version != self._followed_version:
                    await self.follow()
            except asyncio.CancelledError:
                raise
            except ReadoutError as exc:  # the store is down or empty: answering says so already
                log.debug("cannot follow answers' sources now: %s", exc)
            except Exception:
                log.warning("following answers' sources failed; trying again later", exc_info=True)
            await asyncio.sleep(interval)

    # -- one post ----------------------------------------------------------------------------

    async def _update(self, post: Post, current: ParagraphHashes) -> str:
        editor = self._editors[post.platform]
        changed_on = datetime.fromtimestamp(current.built_at or self._clock(), UTC)
        try:
            answer, answer_id = await self._answering.reanswer(post.question)
            update = Update(post, answer, answer_id, changed_on.date().isoformat())
            await editor.edit(update)
        except EditRefused as refused:
            log.warning(
                "could not update %s message %s in %s (answer %s): %s",
                post.platform,
                post.message,
                post.channel,
                post.answer_id,
                refused,
            )
            await asyncio.to_thread(self._finish, post, current.version, FAILED, None)
            return FAILED
        except Exception:
            log.exception(
                "updating %s message %s (answer %s) failed",
                post.platform,
                post.message,
                post.answer_id,
            )
            await asyncio.to_thread(self._finish, post, current.version, FAILED, None)
            return FAILED
        outcome = ABSTAINED if answer.abstained else UPDATED
        await asyncio.to_thread(self._finish, post, current.version, outcome, update)
        log.info(
            "%s %s message %s in %s (answer %s -> %s): %s changed in index v%d",
            "updated" if outcome == UPDATED else "marked outdated",
            post.platform,
            post.message,
            post.channel,
            post.answer_id,
            answer_id,
            ", ".join(post.changed(current.hashes)),
            current.version,
        )
        return outcome

    # -- the question log (blocking: run in a thread) --------------------------------------

    def _connect(self) -> sqlite3.Connection:
        return connect(self._path, busy_timeout=self._busy_timeout)

    def _due(self, since: float, version: int) -> list[Post]:
        """Posts on our platforms since ``since`` showing an answer from before ``version``
        that nobody has handled for ``version`` yet."""
        platforms = sorted(self._editors)
        marks = ", ".join("?" for _ in platforms)
        expired = self._clock() - CLAIM_TTL_SECONDS
        with closing(self._connect()) as connection:
            rows = connection.execute(
                "SELECT id, answer_id, platform, channel, message, posted_at, question, "
                f"index_version FROM posts p WHERE platform IN ({marks}) AND posted_at >= ? "
                "AND index_version < ? AND NOT EXISTS (SELECT 1 FROM post_updates u "
                "WHERE u.post_id = p.id AND u.index_version = ? "
                "AND NOT (u.outcome = ? AND u.claimed_at < ?)) ORDER BY posted_at",
                (*platforms, since, version, version, CLAIMED, expired),
            ).fetchall()
            cited: dict[int, list[tuple[str, str]]] = {}
            for post_id, paragraph, text_hash in connection.execute(
                "SELECT post_id, paragraph, text_hash FROM post_citations WHERE post_id IN "
                "(SELECT id FROM posts WHERE posted_at >= ?)",
                (since,),
            ):
                cited.setdefault(post_id, []).append((paragraph, text_hash))
        return [
            Post(
                id=row[0],
                answer_id=row[1],
                platform=row[2],
                channel=row[3],
                message=row[4],
                posted_at=row[5],
                question=row[6],
                index_version=row[7],
                cited=tuple(cited.get(row[0], ())),
            )
            for row in rows
        ]

    def _claim(self, post: Post, version: int) -> bool:
        """Whether this process may update ``post`` for ``version``: True for exactly one of
        the processes asking (or again, once a claim has outlived ``CLAIM_TTL_SECONDS``)."""
        now = self._clock()
        with closing(self._connect()) as connection, transaction(connection):
            shown = connection.execute(
                "SELECT index_version FROM posts WHERE id = ?", (post.id,)
            ).fetchone()
            if shown is None or shown[0] >= version:  # deleted, or already newer elsewhere
                return False
            cursor = connection.execute(
                "INSERT INTO post_updates (post_id, index_version, claimed_at, outcome) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (post_id, index_version) DO UPDATE "
                "SET claimed_at = excluded.claimed_at "
                "WHERE post_updates.outcome = ? AND post_updates.claimed_at < ?",
                (post.id, version, now, CLAIMED, CLAIMED, now - CLAIM_TTL_SECONDS),
            )
            return cursor.rowcount == 1

    def _finish(self, post: Post, version: int, outcome: str, update: Update | None) -> None:
        """Record how updating ``post`` for ``version`` went; after an edit, the post now
        shows (and follows) the new answer's citations, none after an abstention."""
        with closing(self._connect()) as connection, transaction(connection):
            connection.execute(
                "UPDATE post_updates SET outcome = ? WHERE post_id = ? AND index_version = ?",
                (outcome, post.id, version),
            )
            if update is not None:
                save_post(
                    connection,
                    LoggedPost(
                        answer_id=update.answer_id,
                        platform=post.platform,
                        channel=post.channel,
                        message=post.message,
                        posted_at=post.posted_at,
                        question=post.question,
                        index_version=version,
                        cited=cited_hashes(update.answer),
                    ),
                )
