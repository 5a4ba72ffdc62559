"""The connection to chromadb: one client, made on demand, and what can go wrong with it.

:class:`ChromaConnection` owns the client (an embedded ``PersistentClient``, or an
``HttpClient`` to a Chroma server), reconnects after a transport failure, and turns chromadb's
exceptions into readout's error tree (:func:`guarded`). The data API (``index.store``) and the
lock markers (``index.markers``) both work through one.

Server mode talks to a Chroma server through ``chromadb.HttpClient``. That client has no timeout
of its own (its httpx session is built with ``timeout=None``, and its constructor already talks
to the server), so a server that accepts connections and never answers would hang readout
forever. We therefore connect lazily, check the server with a heartbeat that has a deadline,
build the client under the same deadline (:func:`call_with_deadline`), and then give its
session a timeout. Any transport failure drops the client; the next call connects afresh, so
answers resume by themselves when the server comes back.

chromadb errors are matched by type (``NotFoundError``, ``UniqueConstraintError``) where chromadb
gives one; an existing collection comes only as a ``ChromaError`` whose message says so (both
clients), the one place a message is read.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

from index.errors import ConfigError, ReadoutError, StoreCorrupt, StoreUnavailable

# The embedded chromadb's database file: what makes a folder an index.
DATABASE_FILE = "chroma.sqlite3"

log = logging.getLogger(__name__)

# Under 5 s, so a question to a hanging Chroma server is refused within 5 s.
DEFAULT_REMOTE_TIMEOUT = 4.0
DEFAULT_TOKEN_HEADER = "Authorization"
HEARTBEAT_PATH = "/api/v2/heartbeat"
_P = ParamSpec("_P")
_R = TypeVar("_R")


class ChromaConnection:
    """One chromadb client, (re)made on demand by ``connect`` when there is one."""

    def __init__(
        self, client: Any, *, location: str, connect: Callable[[], Any] | None = None
    ) -> None:
        self._current = client
        self._connect = connect
        self._lock = threading.Lock()
        self.generation = 0  # bumped for every new client: caches of handles key on it
        self.location = location
        self.is_remote = location.startswith(("http://", "https://"))

    @classmethod
    def local(cls, path: Path) -> ChromaConnection:
        """An embedded chromadb ``PersistentClient`` at ``path`` (created if missing)."""
        import chromadb

        if path.exists() and not path.is_dir():
            raise ConfigError(
                f"{path} is a file, not an index folder: point --store or READOUT_STORE at a "
                "folder (readout creates it when it indexes)."
            )
        try:
            path.mkdir(parents=True, exist_ok=True)
            client = chromadb.PersistentClient(
                path=str(path), settings=chromadb.Settings(anonymized_telemetry=False)
            )
        except Exception as exc:
            log.debug("opening the store failed", exc_info=True)
            # Advise deleting the folder only when it is an index: never someone's own files.
            advice = (
                f"Delete {path} and run `readout index` to rebuild it."
                if (path / DATABASE_FILE).exists()
                else "Point --store or READOUT_STORE at an index folder, or at a new one."
            )
            raise StoreCorrupt(
                f"the index at {path} cannot be opened ({type(exc).__name__}). {advice}"
            ) from exc
        return cls(client, location=str(path))

    @classmethod
    def remote(
        cls,
        url: str,
        *,
        token: str = "",
        token_header: str = DEFAULT_TOKEN_HEADER,
        timeout: float = DEFAULT_REMOTE_TIMEOUT,
    ) -> ChromaConnection:
        """The Chroma server at ``url``; nothing is sent until the first call.

        ``token`` goes in ``token_header`` (``Authorization: Bearer <token>``, or the raw token
        for any other header such as ``X-Chroma-Token``): Chroma 1.x servers have no auth of
        their own, so this is for a proxy or gateway in front of one. Every request gets
        ``timeout`` seconds before the server counts as unavailable.
        """
        from urllib.parse import urlsplit

        import chromadb  # noqa: F401 - imported now (about a second), not during a question
        import httpx  # noqa: F401

        parts = urlsplit(url)
        try:
            parts.port  # noqa: B018 - raises ValueError for a port that is not a number
        except ValueError:
            parts = parts._replace(netloc="")
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            # Not echoed: a URL may carry a password.
            raise ConfigError("READOUT_CHROMA_URL must look like http://host:port")
        if parts.path.strip("/") or parts.query:
            raise ConfigError(
                "READOUT_CHROMA_URL must be the Chroma server's root URL, without a path "
                f"(got {public_url(url)!r})"
            )
        headers: dict[str, str] = {}
        if token:
            header = token_header.strip() or DEFAULT_TOKEN_HEADER
            headers[header] = f"Bearer {token}" if header.lower() == "authorization" else token
        location = public_url(url)
        return cls(
            None, location=location, connect=lambda: _connect_http(url, location, headers, timeout)
        )

    @property
    def current(self) -> Any:
        """The client in use right now (None before the first call of a remote store)."""
        return self._current

    @property
    def client(self) -> Any:
        """The client, connecting first if need be (StoreUnavailable if that fails)."""
        client = self._current
        if client is not None:
            return client
        if self._connect is None:
            raise StoreUnavailable(f"the index at {self.location} has been closed.")
        with self._lock:
            if self._current is None:
                self._current = self._connect()
                self.generation += 1
            return self._current

    def discard(self, client: Any) -> None:
        """Forget ``client`` (if it is still the current one) so the next call reconnects."""
        if client is None or self._connect is None:
            return
        with self._lock:
            if self._current is not client:
                return  # another thread already reconnected
            self._current = None
            self.generation += 1
        close_quietly(client)

    def close(self) -> None:
        """Release the client (a remote connection reconnects if it is used again)."""
        with self._lock:
            client, self._current = self._current, None
            self.generation += 1
        if client is not None:
            close_quietly(client)

    def heartbeat(self) -> float:
        """The store's clock in seconds since the epoch (raises chromadb's errors)."""
        return int(self.client.heartbeat()) / 1e9

    def collection_or_none(self, name: str) -> Any:
        try:
            return self.client.get_collection(name)
        except Exception as exc:
            if is_not_found(exc):
                return None
            raise

    def drop_collection(self, name: str) -> None:
        try:
            self.client.delete_collection(name)
        except Exception as exc:  # absent already: nothing to drop
            if not is_not_found(exc):
                raise

    def translate_error(self, exc: Exception) -> ReadoutError:
        """A chromadb or transport exception as the readout error a person can act on."""
        log.debug("store call failed", exc_info=exc)
        if self.is_remote:
            if is_not_found(exc) and not is_transport_error(exc):
                return StoreCorrupt(
                    f"the index on the Chroma server at {self.location} is incomplete "
                    "(a collection is missing). Run `readout index` to rebuild it."
                )
            return StoreUnavailable(
                "search is unavailable right now: the index server at "
                f"{self.location} did not answer. Try again shortly."
            )
        if is_not_found(exc):
            return StoreCorrupt(
                f"the index at {self.location} is incomplete (a collection is missing). "
                "Run `readout index` to rebuild it."
            )
        return StoreCorrupt(
            f"the index at {self.location} cannot be read ({type(exc).__name__}). "
            f"Delete {self.location} and run `readout index` to rebuild it."
        )


class Connected(Protocol):
    """Anything working through a :class:`ChromaConnection` (the store, the markers)."""

    @property
    def connection(self) -> ChromaConnection: ...


_S = TypeVar("_S", bound=Connected)


def guarded(method: Callable[Concatenate[_S, _P], _R]) -> Callable[Concatenate[_S, _P], _R]:
    """Turn chromadb/transport failures inside ``method`` into readout errors a person can
    act on; a transport failure also drops the client, so the next call reconnects."""

    @functools.wraps(method)
    def wrapper(self: _S, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        connection = self.connection
        client = connection.current
        try:
            return method(self, *args, **kwargs)
        except ReadoutError:
            raise
        except Exception as exc:
            if is_transport_error(exc):  # reconnect on the next call
                connection.discard(client if client is not None else connection.current)
            raise connection.translate_error(exc) from exc

    return wrapper


def is_not_found(exc: BaseException) -> bool:
    """chromadb's "collection does not exist", embedded or over HTTP."""
    from chromadb.errors import NotFoundError

    return isinstance(exc, NotFoundError)


def is_already_exists(exc: BaseException) -> bool:
    """chromadb's "collection already exists"."""
    from chromadb.errors import ChromaError, UniqueConstraintError

    if isinstance(exc, UniqueConstraintError):
        return True
    # chromadb 1.5 has no type of its own for it: the embedded client raises an InternalError
    # and the HTTP client a bare ChromaError, each saying so. Still only chromadb's errors.
    return isinstance(exc, ChromaError) and "already exists" in str(exc)


def is_transport_error(exc: BaseException) -> bool:
    """A failure to talk to the server (refused, reset, timed out), as opposed to an answer."""
    import httpx

    return isinstance(exc, (httpx.TransportError, ConnectionError, TimeoutError))


def public_url(url: str) -> str:
    """``url`` without any user:password part, fit for messages and logs."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


def _unavailable(location: str, why: str = "did not answer") -> StoreUnavailable:
    return StoreUnavailable(
        f"search is unavailable right now: the index server at {location} {why}. Try again shortly."
    )


def _connect_http(url: str, location: str, headers: dict[str, str], timeout: float) -> Any:
    """A ``chromadb.HttpClient`` whose every request has a deadline of ``timeout`` seconds."""
    from urllib.parse import urlsplit

    import chromadb
    import httpx

    parts = urlsplit(url)
    ssl = parts.scheme == "https"
    port = parts.port or (443 if ssl else 8000)
    host = parts.hostname or "localhost"
    base = f"{parts.scheme}://{'[' + host + ']' if ':' in host else host}:{port}"
    deadline = time.monotonic() + timeout
    # 1. A heartbeat with a deadline: the common "down or hanging" cases end here, fast.
    try:
        response = httpx.get(base + HEARTBEAT_PATH, headers=headers, timeout=timeout)
    except httpx.HTTPError as exc:
        log.debug("Chroma heartbeat failed", exc_info=True)
        raise _unavailable(location) from exc
    if response.status_code in {401, 403}:
        raise _unavailable(
            location,
            f"refused readout's credentials (HTTP {response.status_code}); "
            "check READOUT_CHROMA_TOKEN and READOUT_CHROMA_TOKEN_HEADER",
        )
    if response.status_code >= 400:
        raise _unavailable(location, f"answered HTTP {response.status_code}")

    # 2. chromadb's constructor makes its own requests without a deadline: bound it here.
    def make() -> Any:
        return chromadb.HttpClient(
            host=host,
            port=port,
            ssl=ssl,
            headers=headers or None,
            settings=chromadb.Settings(anonymized_telemetry=False),
        )

    client = call_with_deadline(make, max(0.0, deadline - time.monotonic()), location)
    # 3. From now on every request has the deadline. chromadb 1.5 offers no setting for it
    # (chroma-core/chroma#5805); tests/integration/server checks this attribute still exists.
    sessions = http_sessions(client)
    if not sessions:
        close_quietly(client)
        log.error("chromadb's HTTP client changed shape; cannot give its requests a timeout")
        raise _unavailable(location, "cannot be used with this chromadb version safely")
    for session in sessions:
        session.timeout = httpx.Timeout(timeout)
    log.info("connected to the Chroma server at %s", location)
    return client


def call_with_deadline(make: Callable[[], Any], timeout: float, location: str) -> Any:
    """``make()`` in a daemon thread; StoreUnavailable if it takes longer than ``timeout``.

    A thread that overruns is abandoned (it cannot be cancelled); whatever it makes late is
    closed, so nothing leaks but the thread, and only while the server stays silent.
    """
    if timeout <= 0:
        raise _unavailable(location)
    outcome: list[Any] = []
    failure: list[BaseException] = []
    lock = threading.Lock()
    abandoned = threading.Event()
    finished = threading.Event()

    def run() -> None:
        try:
            made = make()
        except BaseException as exc:  # handed to the caller below
            failure.append(exc)
        else:
            with lock:
                if abandoned.is_set():
                    close_quietly(made)
                else:
                    outcome.append(made)
        finally:
            finished.set()

    threading.Thread(target=run, name="readout-chroma-connect", daemon=True).start()
    finished.wait(timeout)
    with lock:
        if outcome:
            return outcome[0]
        abandoned.set()
    if failure:
        log.debug("connecting to the Chroma server failed", exc_info=failure[0])
        raise _unavailable(location) from failure[0]
    raise _unavailable(location)


def http_sessions(client: Any) -> list[Any]:
    """The httpx sessions inside a chromadb HttpClient: its own and its admin client's (each
    has one, neither with a timeout, and chromadb's ``close`` closes neither)."""
    import httpx

    found = []
    for owner in (client, getattr(client, "_admin_client", None)):
        session = getattr(getattr(owner, "_server", None), "_session", None)
        if isinstance(session, httpx.Client) and session not in found:
            found.append(session)
    return found


def close_quietly(client: Any) -> None:
    """Close a chroma client and, for an HTTP one, its connection pool (chromadb's own
    ``close`` leaves the httpx session open, so its sockets would linger until collected)."""
    closers = [getattr(client, "close", None)]
    closers += [getattr(session, "close", None) for session in http_sessions(client)]
    for close in closers:
        if callable(close):
            try:
                close()
            except Exception:  # closing what already failed may fail too; nothing to do
                log.debug("closing a chroma client failed", exc_info=True)
