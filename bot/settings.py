"""Settings: one frozen object, read from the environment once, at the entry point.

Our own settings use the ``READOUT_`` prefix; secrets keep their ecosystem names
(``SLACK_BOT_TOKEN``, ``SLACK_APP_TOKEN``, ``SLACK_SIGNING_SECRET``, ``DISCORD_TOKEN``) and are
``repr=False`` so they never reach a log line or a traceback. Defaults are named constants.

=========================  ==========================================  =========================
variable                   meaning                                     default
=========================  ==========================================  =========================
READOUT_STORE              embedded chromadb folder                    ``./.readout``
READOUT_CHROMA_URL         a Chroma server instead of the folder       (unset: embedded)
READOUT_CHROMA_TOKEN       bearer token for a secured Chroma server    (unset)
READOUT_CHROMA_TOKEN_HEADER  header the token goes in                  ``Authorization``
READOUT_CHROMA_TIMEOUT     seconds before a silent server is "down"    ``4``
READOUT_INDEX_LOCK_TTL     seconds a dead indexer's lock outlives it   ``60``
READOUT_MODEL              model name, local folder or hub name        ``all-MiniLM-L6-v2``
READOUT_MODEL_DIR          where the verified default model lives      XDG data dir
READOUT_EMBEDDER           ``onnx`` or ``sentence-transformers``       ``onnx``
READOUT_LOG_LEVEL          logging level                               ``WARNING``
READOUT_QUESTION_LOG       the question log (SQLite)                   beside the store (below)
READOUT_QUESTION_LOG_DAYS  days the question log keeps a question      ``90``
READOUT_QUESTION_LOG_SALT  secret salt for hashing user ids            (unset: made, kept in db)
READOUT_FOLLOW_DAYS        days a posted answer follows its sources    ``7`` (0: never)
READOUT_FOLLOW_INTERVAL    seconds between a bot's index version checks ``30``
READOUT_RATE_LIMIT         questions per user per window               ``5``
READOUT_RATE_WINDOW        the window, in seconds                      ``30``
READOUT_ANSWER_TIMEOUT     seconds before a question is given up       ``20``
READOUT_SLACK_API_URL      Slack Web API base URL                      Slack's own
READOUT_DISCORD_API_URL    Discord REST base URL                       Discord's own
READOUT_DISCORD_GATEWAY_URL  Discord gateway URL                       Discord's own
READOUT_DISCORD_GUILD      guild id for instant command sync           (unset: global)
READOUT_BUTTON_SECRET      key for signing answer buttons' values      (unset: derived, below)
READOUT_BENCH_DIR          where ``make bench`` builds its corpora     a temporary folder
=========================  ==========================================  =========================

Older names still work as aliases (the new name wins when both are set): ``READOUT_DB``,
``READOUT_LOG_DAYS`` and ``READOUT_LOG_SALT`` for the three ``READOUT_QUESTION_LOG*`` settings.

Every default is one named constant: here, or imported from the module that uses it (the store's
timeout and token header, the writer lock's lease), so no other module declares it again.

``READOUT_BUTTON_SECRET`` signs what the answer buttons carry (``bot.buttons``); unset, the
key is derived from the platform's own secret, which every replica of a deployment shares.

The question log defaults to ``<READOUT_STORE>/questions.sqlite3``; in server mode, where there is
no local store, to ``$XDG_STATE_HOME/readout/questions.sqlite3`` (``~/.local/state/...``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from index.errors import ConfigError
from index.lock import DEFAULT_LOCK_TTL
from index.model import DEFAULT_MODEL, default_model_dir
from index.store import DEFAULT_REMOTE_TIMEOUT, DEFAULT_TOKEN_HEADER

DEFAULT_STORE = Path(".readout")
# The ONNX Runtime embedder (no torch in the process); sentence-transformers is the reference.
EMBEDDER_ONNX = "onnx"
EMBEDDER_SENTENCE_TRANSFORMERS = "sentence-transformers"
EMBEDDERS = (EMBEDDER_ONNX, EMBEDDER_SENTENCE_TRANSFORMERS)
DEFAULT_EMBEDDER = EMBEDDER_ONNX
DEFAULT_LOG_LEVEL = "WARNING"
DEFAULT_RATE_LIMIT = 5
DEFAULT_RATE_WINDOW_SECONDS = 30.0
DEFAULT_ANSWER_TIMEOUT_SECONDS = 20.0
DEFAULT_CHROMA_TOKEN_HEADER = DEFAULT_TOKEN_HEADER
DEFAULT_CHROMA_TIMEOUT_SECONDS = DEFAULT_REMOTE_TIMEOUT
DEFAULT_INDEX_LOCK_TTL_SECONDS = DEFAULT_LOCK_TTL
DEFAULT_SLACK_API_URL = "https://slack.com/api/"
DEFAULT_DISCORD_API_URL = "https://discord.com/api/v10"
DEFAULT_DISCORD_GATEWAY_URL = "wss://gateway.discord.gg/"
DEFAULT_QUESTION_LOG_NAME = "questions.sqlite3"
DEFAULT_QUESTION_LOG_DAYS = 90.0
DEFAULT_FOLLOW_DAYS = 7.0
DEFAULT_FOLLOW_INTERVAL_SECONDS = 30.0
# New name -> the older name it replaces (still read when the new one is unset).
ALIASES = {
    "READOUT_QUESTION_LOG": "READOUT_DB",
    "READOUT_QUESTION_LOG_DAYS": "READOUT_LOG_DAYS",
    "READOUT_QUESTION_LOG_SALT": "READOUT_LOG_SALT",
}


def default_state_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Where readout keeps per-user state: ``$XDG_STATE_HOME/readout``."""
    env = os.environ if environ is None else environ
    state_home = env.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state_home) / "readout"


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything readout reads from its environment."""

    store: Path = DEFAULT_STORE
    chroma_url: str = ""
    chroma_token: str = field(default="", repr=False)
    chroma_token_header: str = DEFAULT_CHROMA_TOKEN_HEADER
    chroma_timeout: float = DEFAULT_CHROMA_TIMEOUT_SECONDS
    index_lock_ttl: float = DEFAULT_INDEX_LOCK_TTL_SECONDS
    model: str = DEFAULT_MODEL
    model_dir: Path = field(default_factory=default_model_dir)
    embedder: str = DEFAULT_EMBEDDER
    log_level: str = DEFAULT_LOG_LEVEL
    rate_limit: int = DEFAULT_RATE_LIMIT
    rate_window: float = DEFAULT_RATE_WINDOW_SECONDS
    answer_timeout: float = DEFAULT_ANSWER_TIMEOUT_SECONDS
    slack_api_url: str = DEFAULT_SLACK_API_URL
    slack_bot_token: str = field(default="", repr=False)
    slack_app_token: str = field(default="", repr=False)
    slack_signing_secret: str = field(default="", repr=False)
    discord_api_url: str = DEFAULT_DISCORD_API_URL
    discord_gateway_url: str = DEFAULT_DISCORD_GATEWAY_URL
    discord_token: str = field(default="", repr=False)
    discord_guild: str = ""
    button_secret: str = field(default="", repr=False)
    question_log: Path | None = None
    state_dir: Path = field(default_factory=default_state_dir)
    question_log_days: float = DEFAULT_QUESTION_LOG_DAYS
    question_log_salt: str = field(default="", repr=False)
    follow_days: float = DEFAULT_FOLLOW_DAYS
    follow_interval: float = DEFAULT_FOLLOW_INTERVAL_SECONDS
    bench_dir: Path | None = None

    @property
    def question_log_path(self) -> Path:
        """The question log: ``READOUT_QUESTION_LOG``, else beside the store (a local state
        folder in server mode, which has no local store)."""
        if self.question_log is not None:
            return self.question_log
        if self.chroma_url:
            return self.state_dir / DEFAULT_QUESTION_LOG_NAME
        return self.store / DEFAULT_QUESTION_LOG_NAME

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read settings from ``environ`` (``os.environ`` by default); bad values are listed
        together in one :class:`ConfigError`."""
        env = dict(os.environ if environ is None else environ)
        for name, old in ALIASES.items():
            if not env.get(name, "").strip() and env.get(old, "").strip():
                env[name] = env[old]
        problems: list[str] = []

        def number(
            name: str, default: float, *, integer: bool = False, zero: bool = False
        ) -> float:
            raw = env.get(name, "").strip()
            if not raw:
                return default
            try:
                value = int(raw) if integer else float(raw)
            except ValueError:
                problems.append(f"{name} must be a number (got {raw!r})")
                return default
            if value < 0 or (value == 0 and not zero):
                problems.append(f"{name} must be positive (got {raw!r})")
                return default
            return value

        settings = cls(
            store=Path(env.get("READOUT_STORE") or DEFAULT_STORE),
            chroma_url=env.get("READOUT_CHROMA_URL", "").strip(),
            chroma_token=env.get("READOUT_CHROMA_TOKEN", "").strip(),
            chroma_token_header=env.get("READOUT_CHROMA_TOKEN_HEADER", "").strip()
            or DEFAULT_CHROMA_TOKEN_HEADER,
            chroma_timeout=number("READOUT_CHROMA_TIMEOUT", DEFAULT_CHROMA_TIMEOUT_SECONDS),
            index_lock_ttl=number("READOUT_INDEX_LOCK_TTL", DEFAULT_INDEX_LOCK_TTL_SECONDS),
            model=env.get("READOUT_MODEL", "").strip() or DEFAULT_MODEL,
            model_dir=Path(env["READOUT_MODEL_DIR"])
            if env.get("READOUT_MODEL_DIR")
            else default_model_dir(dict(env)),
            embedder=(env.get("READOUT_EMBEDDER", "").strip() or DEFAULT_EMBEDDER).lower(),
            log_level=(env.get("READOUT_LOG_LEVEL") or DEFAULT_LOG_LEVEL).upper(),
            rate_limit=int(number("READOUT_RATE_LIMIT", DEFAULT_RATE_LIMIT, integer=True)),
            rate_window=number("READOUT_RATE_WINDOW", DEFAULT_RATE_WINDOW_SECONDS),
            answer_timeout=number("READOUT_ANSWER_TIMEOUT", DEFAULT_ANSWER_TIMEOUT_SECONDS),
            slack_api_url=env.get("READOUT_SLACK_API_URL", "").strip() or DEFAULT_SLACK_API_URL,
            slack_bot_token=env.get("SLACK_BOT_TOKEN", "").strip(),
            slack_app_token=env.get("SLACK_APP_TOKEN", "").strip(),
            slack_signing_secret=env.get("SLACK_SIGNING_SECRET", "").strip(),
            discord_api_url=env.get("READOUT_DISCORD_API_URL", "").strip()
            or DEFAULT_DISCORD_API_URL,
            discord_gateway_url=env.get("READOUT_DISCORD_GATEWAY_URL", "").strip()
            or DEFAULT_DISCORD_GATEWAY_URL,
            discord_token=env.get("DISCORD_TOKEN", "").strip(),
            discord_guild=env.get("READOUT_DISCORD_GUILD", "").strip(),
            button_secret=env.get("READOUT_BUTTON_SECRET", "").strip(),
            question_log=Path(env["READOUT_QUESTION_LOG"].strip())
            if env.get("READOUT_QUESTION_LOG", "").strip()
            else None,
            state_dir=default_state_dir(env),
            question_log_days=number("READOUT_QUESTION_LOG_DAYS", DEFAULT_QUESTION_LOG_DAYS),
            question_log_salt=env.get("READOUT_QUESTION_LOG_SALT", "").strip(),
            follow_days=number("READOUT_FOLLOW_DAYS", DEFAULT_FOLLOW_DAYS, zero=True),
            follow_interval=number("READOUT_FOLLOW_INTERVAL", DEFAULT_FOLLOW_INTERVAL_SECONDS),
            bench_dir=Path(env["READOUT_BENCH_DIR"]) if env.get("READOUT_BENCH_DIR") else None,
        )
        if settings.log_level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            problems.append(
                f"READOUT_LOG_LEVEL must be a logging level (got {settings.log_level!r})"
            )
        if settings.embedder not in EMBEDDERS:
            problems.append(
                f"READOUT_EMBEDDER must be one of {', '.join(EMBEDDERS)} "
                f"(got {settings.embedder!r})"
            )
        if settings.chroma_url and not settings.chroma_url.startswith(("http://", "https://")):
            problems.append("READOUT_CHROMA_URL must start with http:// or https://")
        if problems:
            raise ConfigError("invalid settings:\n  " + "\n  ".join(problems))
        return settings

    def require(self, *names: str) -> None:
        """Raise one :class:`ConfigError` naming every listed secret that is unset."""
        env_names = {
            "slack_bot_token": "SLACK_BOT_TOKEN",
            "slack_app_token": "SLACK_APP_TOKEN",
            "slack_signing_secret": "SLACK_SIGNING_SECRET",
            "discord_token": "DISCORD_TOKEN",
        }
        missing = [env_names.get(n, n) for n in names if not getattr(self, n)]
        if missing:
            raise ConfigError("missing settings: " + ", ".join(missing))
