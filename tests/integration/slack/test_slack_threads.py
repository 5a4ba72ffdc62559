"""Follow-up questions in Slack threads: a question in a thread where readout answered is read
with the conversation so far, from memory, or after a restart from the thread's own history
(``conversations.replies`` on the stand-in), and answered in the thread."""

from __future__ import annotations

from typing import Any

import pytest

from bot.settings import Settings
from bot.slack_app import listener_tasks
from bot.slack_app.render import SHOW_SOURCES
from retrieval.engine import Engine
from tests.support.slack import (
    WAIT,
    FakeSlack,
    all_text,
    blocks_of,
    button_value_of,
    direct_message,
    http_endpoint,
    iter_texts,
    mention,
    new_ts,
    running_app,
    running_service,
)

pytestmark = pytest.mark.integration

TAIWAN = "What did Xi say about Taiwan?"
FOLLOW_UP = "And what did Biden say about it?"
READ_AS = "(read as: What did Biden say about Taiwan?)"


def answers_in(fake: FakeSlack, thread_ts: str) -> list[dict[str, Any]]:
    return [c.args for c in fake.posts() if c.args.get("thread_ts") == thread_ts]


async def ask_in_thread(
    settings: Settings, engine: Engine, fake: FakeSlack, event: dict[str, Any], key: str
) -> dict[str, Any]:
    """Deliver ``event`` to a freshly started app (a new process: nothing remembered)."""
    async with (
        running_service(engine) as service,
        running_app(settings, service) as app,
        http_endpoint(app, fake) as slack,
    ):
        fake.add_message(event)
        await slack.event(event, event_id=key)
        assert await listener_tasks(app).wait_idle(WAIT)
    return fake.posts()[-1].args


async def test_a_follow_up_in_a_thread_is_read_with_the_thread_after_a_restart(
    slack_settings: Settings, article_engine: Engine, fake_slack: FakeSlack
) -> None:
    fake = fake_slack
    root = new_ts()
    first = await ask_in_thread(
        slack_settings, article_engine, fake, mention(TAIWAN, ts=root), "Ev1"
    )
    assert first["thread_ts"] == root and "first red line" in all_text(first)

    # readout restarted: its memory is empty, the thread on Slack is not
    follow_up = mention(FOLLOW_UP, ts=new_ts(), thread_ts=root)
    second = await ask_in_thread(slack_settings, article_engine, fake, follow_up, "Ev2")
    assert second["thread_ts"] == root  # answered in the thread
    assert READ_AS in all_text(second) and "peace and stability" in all_text(second)
    [replies] = fake.posts("conversations.replies")
    assert (replies.args["channel"], replies.args["ts"]) == ("C0GENERAL", root)

    # the same question outside the thread stands alone
    alone = await ask_in_thread(
        slack_settings, article_engine, fake, mention(FOLLOW_UP, ts=new_ts()), "Ev3"
    )
    assert "read as" not in all_text(alone)


async def test_a_thread_is_remembered_without_reading_it_back(
    slack_settings: Settings, article_engine: Engine, fake_slack: FakeSlack
) -> None:
    fake = fake_slack
    async with (
        running_service(article_engine) as service,
        running_app(slack_settings, service) as app,
        http_endpoint(app, fake) as slack,
    ):
        dm = "D0ASKER"
        for n, question in enumerate(("What did Biden say about TikTok?", "Who owns it?")):
            await slack.event(direct_message(question, ts=new_ts(), channel=dm), event_id=f"E{n}")
            assert await listener_tasks(app).wait_idle(WAIT)
    first, second = (c.args for c in fake.posts())
    assert "read as" not in all_text(first)
    assert "(read as: Who owns TikTok?)" in all_text(second) and "ByteDance" in all_text(second)
    # the first question of the DM looked back (nothing there); the second needed not
    assert len(fake.posts("conversations.history")) == 1
    assert not fake.posts("conversations.replies")


async def test_sources_of_a_follow_up_are_rebuilt_with_its_context_after_a_restart(
    slack_settings: Settings, article_engine: Engine, fake_slack: FakeSlack
) -> None:
    fake = fake_slack
    root = new_ts()
    async with (
        running_service(article_engine) as service,
        running_app(slack_settings, service) as app,
        http_endpoint(app, fake) as slack,
    ):
        await slack.event(mention(TAIWAN, ts=root), event_id="E1")
        assert await listener_tasks(app).wait_idle(WAIT)
        await slack.event(mention(FOLLOW_UP, ts=new_ts(), thread_ts=root), event_id="E2")
        assert await listener_tasks(app).wait_idle(WAIT)
    follow_up = fake.posts()[-1].args
    assert READ_AS in all_text(follow_up) and "¶4" in all_text(follow_up)

    # restarted: "What did Biden say about Taiwan?" asked alone would cite Xi's ¶12; asked
    # after the question before it, as it was, it cites ¶4 again
    async with (
        running_service(article_engine) as service,
        running_app(slack_settings, service) as app,
        http_endpoint(app, fake) as slack,
    ):
        await slack.action(SHOW_SOURCES, button_value_of(follow_up), key="sources")
        await fake.wait_for(lambda: fake.responses_to("sources"))
    texts = "\n".join(iter_texts(blocks_of(fake.responses_to("sources")[0])))
    assert "¶4" in texts and "¶12" not in texts
