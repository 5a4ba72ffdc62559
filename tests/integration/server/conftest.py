"""Fixtures of the server-mode tests: a real `chroma run` server (``tests.support.chroma``)."""

from tests.support.chroma import (  # noqa: F401 - fixtures, used by name
    article_on_server,
    chroma_server,
    server_env,
    silent_server,
)
