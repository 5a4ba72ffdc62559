"""`readout serve slack|discord` as operators run them, at DEBUG: every question and vote lands
in the question log the entry point opened from its settings, `readout stats` reads it back,
and no token, signing secret or salt appears in the output or the log; no raw user id in the
log either. (Every other test in this suite runs at DEBUG too and is checked the same way.)
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.slack_app.render import FEEDBACK_DOWN, FEEDBACK_UP
from tests.support.fake_discord import APP_ID, USER_ID
from tests.support.ops import (
    LOG_SALT,
    SECRETS,
    WAIT,
    CountingDiscord,
    CountingSlack,
    logged,
)
from tests.support.paths import PROJECT_ROOT
from tests.support.processes import readout
from tests.support.slack import (
    APP_TOKEN,
    BOT_TOKEN,
    SIGNING_SECRET,
    SlackHttp,
    answer_id_of,
    button_value_of,
)

pytestmark = pytest.mark.integration

TAIWAN = "What did Xi say about Taiwan?"
SLACK_USER = "U0SECRETUSER"


@pytest.fixture
def serve_env(tmp_path: Path, article_store_dir: Path) -> Iterator[dict[str, str]]:
    """DEBUG logging, a salt, the question log in its own folder, a copy of the index."""
    store = tmp_path / "store"
    shutil.copytree(article_store_dir, store)
    yield {
        **os.environ,
        "READOUT_STORE": str(store),
        "READOUT_QUESTION_LOG": str(tmp_path / "log" / "questions.sqlite3"),
        "READOUT_QUESTION_LOG_SALT": LOG_SALT,
        "READOUT_LOG_LEVEL": "DEBUG",
    }


def stats(env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "bot", "stats", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=WAIT,
        check=False,
        cwd=PROJECT_ROOT,
    )
    assert done.returncode == 0, done.stderr
    assert not [s for s in SECRETS if s in done.stdout + done.stderr]
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def assert_log_holds_no_secret_nor_raw_id(db: Path, raw_ids: list[str]) -> None:
    for path in db.parent.iterdir():  # the database, its WAL and shared memory, if any
        data = path.read_bytes()
        assert not [s for s in [*SECRETS, *raw_ids] if s.encode() in data], path


async def test_serve_slack_logs_questions_and_votes_and_leaks_nothing(
    serve_env: dict[str, str], counting_slack: CountingSlack
) -> None:
    fake = counting_slack
    env = {
        **serve_env,
        "READOUT_SLACK_API_URL": fake.api_url,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_APP_TOKEN": APP_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
    }
    serving = readout(env, "serve", "slack", "--http", "--host", "127.0.0.1", "--port", "0")
    async with serving as server:
        match = await server.wait_for_line(r"(http://127\.0\.0\.1:\d+/slack/events)")
        async with aiohttp.ClientSession() as session:
            slack = SlackHttp(match.group(1), session, fake)
            assert (await slack.command("/ask", TAIWAN, key="ask", user=SLACK_USER)).status == 200
            await asyncio.wait_for(fake.arrival("ask").wait(), WAIT)
            answer_id = answer_id_of(fake.responses_to("ask")[0])
            value = button_value_of(fake.responses_to("ask")[0])
            for vote, key in ((FEEDBACK_UP, "up"), (FEEDBACK_DOWN, "down")):  # a change of mind
                await slack.action(vote, value, key=key, user=SLACK_USER)
                await asyncio.wait_for(fake.arrival(key).wait(), WAIT)
        assert await server.stop() == 0  # SIGTERM: the log is flushed on the way out

    output = "".join(server.stderr)
    assert "DEBUG" in output and "Traceback" not in output
    assert not [s for s in SECRETS if s in output]
    db = Path(env["READOUT_QUESTION_LOG"])
    [row] = logged(db)
    assert (row["platform"], row["question"], row["outcome"]) == ("slack", TAIWAN, "answered")
    assert row["answer_id"] == answer_id and row["user_hash"] != SLACK_USER
    assert_log_holds_no_secret_nor_raw_id(db, [SLACK_USER])
    report = stats(env)
    assert report["questions"] == 1 and report["top_cited"][0]["paragraph"].endswith(":¶12")
    assert report["feedback"] == {"up": 0, "down": 1, "helpful_ratio": 0.0}  # one vote, replaced


async def test_serve_discord_logs_questions_and_votes_and_leaks_nothing(
    serve_env: dict[str, str], counting_discord: CountingDiscord
) -> None:
    fake = counting_discord
    env = {
        **serve_env,
        "DISCORD_TOKEN": fake.token,
        "READOUT_DISCORD_API_URL": fake.api_url,
        "READOUT_DISCORD_GATEWAY_URL": fake.gateway_url,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "serve",
        "discord",
        env=env,
        cwd=PROJECT_ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        await fake.wait_for(lambda: fake.identifies, timeout=WAIT)
        interaction = await fake.slash("ask", {"question": TAIWAN})
        await asyncio.wait_for(fake.follow_up_of(interaction["token"]).wait(), WAIT)
        [post] = fake.calls_to("POST", rf"/webhooks/{APP_ID}/{interaction['token']}")
        message = next(m for m in fake.messages.values() if m["embeds"] == post.embeds)
        buttons = [b["custom_id"] for row in post.body["components"] for b in row["components"]]
        up = next(b for b in buttons if ":vote:up:" in b)
        click = await fake.click(up, message)
        await fake.wait_for(
            lambda: fake.calls_to("POST", rf"/interactions/{click['id']}/[^/]+/callback"),
            timeout=WAIT,
        )
    except BaseException:
        process.kill()
        raise
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        stdout, stderr = await asyncio.wait_for(process.communicate(), WAIT)

    output = stdout.decode() + stderr.decode()
    assert process.returncode == 0, output[-3000:]
    assert "DEBUG" in output and "Traceback" not in output
    assert not [s for s in SECRETS if s in output]
    db = Path(env["READOUT_QUESTION_LOG"])
    [row] = logged(db)
    assert (row["platform"], row["channel_kind"], row["outcome"]) == (
        "discord",
        "channel",
        "answered",
    )
    assert up.split(":")[3] == row["answer_id"]  # readout:vote:up:<answer id>:<version>:<mac>
    assert_log_holds_no_secret_nor_raw_id(db, [USER_ID])
    report = stats(env)
    assert report["questions"] == 1
    assert report["feedback"] == {"up": 1, "down": 0, "helpful_ratio": 1.0}
