"""The Slack adapter: ``app`` (the bolt app and its question listeners), ``buttons`` (the
answer's buttons and their clicks), ``replies`` (who asked, posting a reply), ``editor``
(updating answers whose sources changed), ``threads`` (which conversation), ``render`` (pure
functions from a reply to Block Kit) and ``serve`` (Socket Mode or HTTP, until a signal stops
it)."""

from bot.slack_app.app import create_app, create_web_client, listener_tasks, question_text
from bot.slack_app.serve import create_web_app, editor, serve

__all__ = [
    "create_app",
    "create_web_app",
    "create_web_client",
    "editor",
    "listener_tasks",
    "question_text",
    "serve",
]
