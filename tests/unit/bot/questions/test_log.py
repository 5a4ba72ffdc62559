"""The question log: what a row holds, hashed ids, votes, WAL, migrations, retention, and
failures (locked, full, unopenable) that never reach the person asking."""

from __future__ import annotations

import logging
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from bot.questions.log import LoggedAnswer, QuestionLog, question_log
from bot.service import TERMINAL, UNAVAILABLE, AnswerService, Asker, Reply, ReplyKind
from bot.settings import Settings
from index.errors import QuestionError, StoreUnavailable
from retrieval.answer import Answer, Citation
from tests.support.fakes import FakeEngine

ASKER = Asker("slack", "U0RAWUSERID", "channel")
DAY = 86_400.0


class Clock:
    def __init__(self, now: float = 1_750_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def cited(question: str = "What did Xi say about Taiwan?") -> Answer:
    citations = (
        Citation(1, "xi-biden-call", "Call", 12, 2, "Taiwan is the first red line.", 0.8),
        Citation(2, "xi-biden-call", "Call", 3, 1, "Xi spoke.", 0.6),
    )
    return Answer(question, "Taiwan is the first red line. [1] Xi spoke. [2]", False, citations, 7)


def rows(path: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as db:
        return db.execute(sql, args).fetchall()


def test_an_answer_is_recorded_with_everything_but_the_raw_user_id(
    qlog: QuestionLog, db_path: Path
) -> None:
    qlog.record_answer(ASKER, cited(), 0.25, answer_id="a1b2c3")
    assert qlog.flush()

    [row] = rows(
        db_path,
        "SELECT platform, user_hash, channel_kind, question, outcome, abstained, latency_ms, "
        "index_version, answer_id FROM questions",
    )
    assert row == (
        "slack",
        qlog.user_hash(ASKER),
        "channel",
        "What did Xi say about Taiwan?",
        "answered",
        0,
        250.0,
        7,
        "a1b2c3",
    )
    assert len(row[1]) == 32 and "U0RAWUSERID" not in row[1]
    assert rows(db_path, "SELECT n, doc, paragraph FROM citations ORDER BY n") == [
        (1, "xi-biden-call", 12),
        (2, "xi-biden-call", 3),
    ]
    qlog.close()
    everything = b"".join(p.read_bytes() for p in db_path.parent.iterdir())
    assert b"U0RAWUSERID" not in everything  # not in the db, the WAL, anywhere


def test_abstentions_and_outages_are_recorded_with_their_outcome(
    qlog: QuestionLog, db_path: Path
) -> None:
    qlog.record_answer(ASKER, Answer.not_covered("What is the weather?", 3), 0.01)
    qlog.record_question(ASKER, "Anything?", Reply(ReplyKind.UNAVAILABLE, UNAVAILABLE), 4.0)
    qlog.record_question(ASKER, "Boom?", Reply(ReplyKind.FAILED, "sorry"), 0.5)
    assert qlog.flush()
    assert rows(db_path, "SELECT question, outcome, abstained FROM questions ORDER BY id") == [
        ("What is the weather?", "abstained", 1),
        ("Anything?", "unavailable", None),
        ("Boom?", "failed", None),
    ]


def test_the_same_user_hashes_the_same_across_restarts_and_differently_per_platform(
    db_path: Path,
) -> None:
    with QuestionLog(db_path) as first:
        hashed = first.user_hash(ASKER)
        other_platform = first.user_hash(Asker("discord", ASKER.user_id))
    with QuestionLog(db_path) as again:
        assert again.user_hash(ASKER) == hashed  # the generated salt is kept in the db
    assert other_platform != hashed
    with QuestionLog(db_path, salt="operator-secret-salt") as salted:
        assert salted.user_hash(ASKER) != hashed
    assert b"operator-secret-salt" not in db_path.read_bytes()


def test_one_vote_per_user_per_answer_and_a_new_vote_replaces_it(
    qlog: QuestionLog, db_path: Path
) -> None:
    other = Asker("slack", "U0OTHER")
    qlog.record("answer1", ASKER, 1)
    qlog.record("answer1", ASKER, -1)
    qlog.record("answer1", other, 1)
    qlog.record("answer2", ASKER, 1)
    assert qlog.flush()
    assert rows(db_path, "SELECT answer_id, user_hash, vote FROM feedback ORDER BY 1, 3") == [
        ("answer1", qlog.user_hash(ASKER), -1),
        ("answer1", qlog.user_hash(other), 1),
        ("answer2", qlog.user_hash(ASKER), 1),
    ]


def test_questions_and_votes_past_retention_are_deleted(db_path: Path) -> None:
    clock = Clock()
    with QuestionLog(db_path, retention_days=30, clock=clock) as old:
        old.record_answer(ASKER, cited("old question"), 0.1, answer_id="old")
        old.record("old", ASKER, 1)
        clock.now += 10 * DAY
        old.record_answer(ASKER, cited("newer question"), 0.1, answer_id="new")
    clock.now += 25 * DAY  # the first question is now 35 days old, the second 25
    with QuestionLog(db_path, retention_days=30, clock=clock):
        pass
    assert rows(db_path, "SELECT question FROM questions") == [("newer question",)]
    assert rows(db_path, "SELECT COUNT(*) FROM citations") == [(2,)]  # the old ones cascaded
    assert rows(db_path, "SELECT COUNT(*) FROM feedback") == [(0,)]


def test_a_locked_database_logs_a_warning_and_recording_never_waits(
    db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with QuestionLog(db_path, busy_timeout=0.2) as qlog:
        locker = sqlite3.connect(db_path, isolation_level=None)
        locker.execute("BEGIN EXCLUSIVE")  # another process holding the write lock
        started = time.perf_counter()
        for n in range(50):
            qlog.record_answer(ASKER, cited(f"question {n}"), 0.1)
        assert time.perf_counter() - started < 0.5  # queued, not written: nothing waited
        assert qlog.flush()
        assert "records not written" in caplog.text and "database is locked" in caplog.text
        locker.execute("ROLLBACK")
        locker.close()
        qlog.record_answer(ASKER, cited("after the lock"), 0.1)
        assert qlog.flush()
    assert rows(db_path, "SELECT question FROM questions") == [("after the lock",)]
    assert all(r.levelno == logging.WARNING for r in caplog.records)


def test_a_full_disk_logs_a_warning_and_writing_resumes_when_there_is_room(
    tmp_path: Path,
) -> None:
    """A real write failure: the process may not grow files past a limit (RLIMIT_FSIZE), as on
    a full disk. Run in its own process so the limit touches nothing else."""
    script = textwrap.dedent(
        """
        import logging, resource, signal, sys
        from pathlib import Path
        from bot.questions.log import QuestionLog
        from bot.service import Asker
        from retrieval.answer import Answer

        logging.basicConfig(level=logging.WARNING, stream=sys.stdout)
        path = Path(sys.argv[1])
        asker = Asker("discord", "1234")
        with QuestionLog(path) as qlog:
            qlog.record_answer(asker, Answer.not_covered("before"), 0.1)
            assert qlog.flush()
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG, not killed
            used = sum(p.stat().st_size for p in path.parent.iterdir())
            resource.setrlimit(resource.RLIMIT_FSIZE, (used + 8192, resource.RLIM_INFINITY))
            for n in range(20):
                qlog.record_answer(asker, Answer.not_covered("x" * 50_000 + str(n)), 0.1)
            assert qlog.flush()
            print("STILL ANSWERING")
            resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY,) * 2)
            qlog.record_answer(asker, Answer.not_covered("after"), 0.1)
        """
    )
    path = tmp_path / "questions.sqlite3"
    done = subprocess.run(
        [sys.executable, "-c", script, str(path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "WARNING:bot.questions.log:question log:" in done.stdout
    assert "records not written" in done.stdout and "STILL ANSWERING" in done.stdout
    questions = [q for (q,) in rows(path, "SELECT question FROM questions ORDER BY id")]
    assert questions[0] == "before" and questions[-1] == "after"


def test_a_log_opened_while_another_process_writes_still_records(
    db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with QuestionLog(db_path):
        pass  # made, with its salt
    locker = sqlite3.connect(db_path, isolation_level=None)
    locker.execute("BEGIN IMMEDIATE")
    qlog = QuestionLog(db_path, busy_timeout=0.2)  # no write needed to open: pruning waits
    locker.execute("ROLLBACK")
    locker.close()
    qlog.record_answer(ASKER, cited(), 0.1)
    qlog.close()
    assert rows(db_path, "SELECT question FROM questions") == [(cited().question,)]
    assert "pruning" in caplog.text


def test_when_the_writer_falls_behind_records_are_dropped_not_waited_for(
    db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with QuestionLog(db_path, busy_timeout=1.0, max_pending=5) as qlog:
        locker = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
        locker.execute("BEGIN EXCLUSIVE")
        started = time.perf_counter()
        for n in range(100):
            qlog.record_answer(ASKER, cited(f"q{n}"), 0.1)
        assert time.perf_counter() - started < 0.5
        assert "question log is behind" in caplog.text
        locker.execute("ROLLBACK")
        locker.close()


def test_an_unusable_database_means_no_log_and_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    not_a_db = tmp_path / "questions.sqlite3"
    not_a_db.write_bytes(b"this is not a database at all, not even close" * 100)
    with question_log(Settings(question_log=not_a_db)) as opened:
        assert opened is None
    assert "questions will not be logged" in caplog.text
    with question_log(Settings(question_log=tmp_path / "ok.sqlite3"), enabled=False) as disabled:
        assert disabled is None
    assert not (tmp_path / "ok.sqlite3").exists()


def test_the_default_location_is_beside_the_store_or_a_state_folder_in_server_mode(
    tmp_path: Path,
) -> None:
    env = {"READOUT_STORE": str(tmp_path / "index"), "XDG_STATE_HOME": str(tmp_path / "state")}
    assert Settings.from_env(env).question_log_path == tmp_path / "index" / "questions.sqlite3"
    server = Settings.from_env({**env, "READOUT_CHROMA_URL": "http://127.0.0.1:8000"})
    assert server.question_log_path == tmp_path / "state" / "readout" / "questions.sqlite3"
    explicit = Settings.from_env({**env, "READOUT_QUESTION_LOG": str(tmp_path / "q.db")})
    assert explicit.question_log_path == tmp_path / "q.db"


def test_log_settings_are_validated_and_the_salt_is_secret() -> None:
    settings = Settings.from_env(
        {"READOUT_QUESTION_LOG_DAYS": "30", "READOUT_QUESTION_LOG_SALT": "pepper-123"}
    )
    assert settings.question_log_days == 30 and settings.question_log_salt == "pepper-123"
    assert "pepper-123" not in repr(settings)
    assert Settings.from_env({}).question_log_days == 90
    with pytest.raises(Exception, match="READOUT_QUESTION_LOG_DAYS"):
        Settings.from_env({"READOUT_QUESTION_LOG_DAYS": "forever"})


def test_the_old_setting_names_still_work_and_the_new_ones_win(tmp_path: Path) -> None:
    old = {
        "READOUT_DB": str(tmp_path / "old.db"),
        "READOUT_LOG_DAYS": "7",
        "READOUT_LOG_SALT": "old-salt",
    }
    settings = Settings.from_env(old)
    assert settings.question_log_path == tmp_path / "old.db"
    assert (settings.question_log_days, settings.question_log_salt) == (7, "old-salt")
    both = Settings.from_env(
        {**old, "READOUT_QUESTION_LOG": str(tmp_path / "new.db"), "READOUT_QUESTION_LOG_DAYS": "3"}
    )
    assert (both.question_log_path, both.question_log_days) == (tmp_path / "new.db", 3)
    with pytest.raises(Exception, match="READOUT_QUESTION_LOG_DAYS"):
        Settings.from_env({"READOUT_LOG_DAYS": "forever"})  # named by its new name


async def test_the_question_is_logged_as_searched_normalised_once(
    qlog: QuestionLog, db_path: Path
) -> None:
    engine = FakeEngine()
    service = AnswerService(engine, question_log=qlog, batch_window=0)
    terminal = Asker("cli", "me", TERMINAL)
    try:
        answer, _ = await service.answer(terminal, "  Where\u200b  is Ｔａｉｗａｎ? ")
        assert answer.question == "Where is Taiwan?"
        engine.error = StoreUnavailable("down")
        with pytest.raises(StoreUnavailable):
            await service.answer(terminal, "Where\tis  Taiwan?\u200d")
        with pytest.raises(QuestionError):
            await service.answer(terminal, "   ")  # refused before any search: not logged
    finally:
        service.close()
    assert engine.asked == ["Where is Taiwan?", "Where is Taiwan?"]
    assert qlog.flush()
    assert rows(db_path, "SELECT question, channel_kind, outcome FROM questions ORDER BY id") == [
        ("Where is Taiwan?", "terminal", "answered"),
        ("Where is Taiwan?", "terminal", "unavailable"),
    ]


async def test_the_service_logs_searched_questions_only(qlog: QuestionLog, db_path: Path) -> None:
    engine = FakeEngine()
    service = AnswerService(
        engine, rate_limit=2, rate_window=60, question_log=qlog, feedback=qlog, batch_window=0
    )
    try:
        answered = await service.ask(ASKER, "What did Xi say?")
        assert (await service.ask(ASKER, "\u200b\u200d")).kind is ReplyKind.USAGE
        assert (await service.ask(ASKER, "x" * 600)).kind is ReplyKind.TOO_LONG
        engine.error = StoreUnavailable("down")
        assert (await service.ask(ASKER, "Is it down?")).kind is ReplyKind.UNAVAILABLE
        assert (await service.ask(ASKER, "Too many?")).kind is ReplyKind.RATE_LIMITED
        assert service.record_feedback(answered.answer_id, ASKER, 1)
    finally:
        service.close()
    assert qlog.flush()
    assert rows(db_path, "SELECT question, outcome, answer_id FROM questions ORDER BY id") == [
        ("What did Xi say?", "answered", answered.answer_id),
        ("Is it down?", "unavailable", None),
    ]
    assert rows(db_path, "SELECT answer_id, vote FROM feedback") == [(answered.answer_id, 1)]


async def test_a_broken_question_log_does_not_break_answering(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Broken:
        def record_question(self, *args: object) -> None:
            raise RuntimeError("disk on fire")

    service = AnswerService(FakeEngine(), question_log=Broken(), batch_window=0)
    try:
        reply = await service.ask(ASKER, "Still answered?")
    finally:
        service.close()
    assert reply.kind is ReplyKind.ANSWER
    assert "recording the question failed" in caplog.text


def test_an_answer_is_found_again_by_its_id_with_a_follow_ups_context(
    qlog: QuestionLog,
) -> None:
    plain = cited()
    follow_up = Answer(
        "And Biden?", plain.text, False, plain.citations, 3, "What did Biden say about Taiwan?"
    )
    qlog.record_question(ASKER, plain.question, Reply(ReplyKind.ANSWER, "", plain, "a1"), 0.1)
    reply = Reply(ReplyKind.ANSWER, "", follow_up, "a2", follows=plain.question)
    qlog.record_question(ASKER, "And Biden?", reply, 0.1)
    assert qlog.flush()
    assert qlog.find_answer("a1") == LoggedAnswer(plain.question, plain.index_version)
    assert qlog.find_answer("a2") == LoggedAnswer(
        "What did Biden say about Taiwan?", 3, "And Biden?", plain.question
    )
    assert qlog.find_answer("ffff") is None
