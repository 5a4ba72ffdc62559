"""The answer's buttons on Slack: "Show sources", 👍/👎 and "Ask again", and what a click does.

A button's value is a signed reference to the answer it is under (:mod:`bot.buttons`, sealed by
:func:`bot.slack_app.replies.button_value`) with a key every replica derives alike
(:func:`button_signer`), so a click works on any replica and after a restart; a forged or
altered value gets "no longer valid". :func:`register_buttons` adds the click listeners to the
bolt app; like every listener they acknowledge at once and answer in a lazy listener.
"""

from __future__ import annotations

import logging
import re

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.buttons import AnswerRef, ButtonSigner, InvalidButton
from bot.service import INVALID_BUTTON, AnswerService
from bot.settings import Settings
from bot.slack_app.render import (
    ASK_AGAIN,
    FEEDBACK_DOWN,
    FEEDBACK_UP,
    SHOW_SOURCES,
    render_notice,
    render_sources,
)
from bot.slack_app.replies import (
    Conversation,
    Payload,
    ResponseUrl,
    action_asker,
    deliver,
    is_dm,
    reported,
)

log = logging.getLogger(__name__)

THANKS = "Thanks for the feedback!"


def button_signer(settings: Settings) -> ButtonSigner:
    """The key every replica of this Slack app shares (see :mod:`bot.buttons`)."""
    return ButtonSigner.from_secrets(
        settings.button_secret, settings.slack_signing_secret, settings.slack_bot_token
    )


def register_buttons(app: AsyncApp, service: AnswerService, signer: ButtonSigner) -> None:
    """Add the listeners for clicks on an answer's buttons to ``app``."""

    async def acknowledge(ack: AsyncAck) -> None:
        await ack()  # within Slack's 3 s, before any work: the answer follows from a lazy listener

    async def show_sources(body: Payload, action: Payload, respond: AsyncRespond) -> None:
        where = ResponseUrl(respond)
        async with reported(where):
            ref = _opened(signer, action)
            if ref is None:
                await where.private(render_notice(INVALID_BUTTON))
                return
            reply = await service.sources(action_asker(body), ref)
            if reply.answer is None:
                await where.private(render_notice(reply.text))
                return
            for message in render_sources(reply.answer, reply.text):
                await where.private(message)

    async def ask_again(body: Payload, action: Payload, client: AsyncWebClient) -> None:
        # On an answer whose sources changed and no longer answer it: the question (the
        # button's value) asked anew, answered in the message's thread like a mention.
        container = body.get("container") or {}
        channel = str((body.get("channel") or {}).get("id") or container.get("channel_id") or "")
        where = Conversation(
            client,
            channel=channel,
            user=str((body.get("user") or {}).get("id") or ""),
            thread_ts=container.get("thread_ts") or container.get("message_ts"),
            notices_public=is_dm(channel),
        )
        asking = service.ask(action_asker(body), str(action.get("value", "")))
        await deliver(asking, where, signer, service)

    async def record_vote(body: Payload, action: Payload, respond: AsyncRespond) -> None:
        where = ResponseUrl(respond)
        async with reported(where):
            ref = _opened(signer, action)
            if ref is None:
                await where.private(render_notice(INVALID_BUTTON))
                return
            vote = 1 if action.get("action_id") == FEEDBACK_UP else -1
            service.record_feedback(ref.answer_id, action_asker(body), vote)
            await where.private(render_notice(THANKS))

    app.action(SHOW_SOURCES)(ack=acknowledge, lazy=[show_sources])
    votes = re.compile(f"^({FEEDBACK_UP}|{FEEDBACK_DOWN})$")
    app.action(votes)(ack=acknowledge, lazy=[record_vote])
    app.action(ASK_AGAIN)(ack=acknowledge, lazy=[ask_again])


def _opened(signer: ButtonSigner, action: Payload) -> AnswerRef | None:
    """The answer a clicked button is under; None (logged, without the value) if forged."""
    try:
        return signer.open(str(action.get("value", "")))
    except InvalidButton as exc:
        log.info("refused a Slack button click: %s", exc)
        return None
