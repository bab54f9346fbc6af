"""The one error tree of Traza. Remote errors carry the remote side and code.

::

    TrazaError
    ├── RemoteError                 a call to Slack or the Graph API failed
    │   ├── TransientRemoteError    worth retrying with backoff (5xx, timeouts, connection errors);
    │   │                           ``in_doubt`` when the call may have been acted on (no answer read)
    │   │   └── RateLimited         the remote asked us to wait ``retry_after`` seconds
    │   └── PermanentRemoteError    retrying the same call cannot help; shown where the agent works
    └── InvalidInput                a user or a payload asked for something impossible
"""

from __future__ import annotations


class TrazaError(Exception):
    """Base of every error Traza raises on purpose."""


class RemoteError(TrazaError):
    def __init__(self, side: str, code: str | int, message: str = "", *, details: str = "") -> None:
        self.side = side
        self.code = code
        self.message = message
        self.details = details
        super().__init__(f"{side} error {code}: {message}" + (f" ({details})" if details else ""))


class TransientRemoteError(RemoteError):
    """Worth retrying: the same call may succeed later."""

    def __init__(
        self,
        side: str,
        code: str | int,
        message: str = "",
        *,
        details: str = "",
        retry_after: float | None = None,
        in_doubt: bool = False,
    ) -> None:
        super().__init__(side, code, message, details=details)
        self.retry_after = retry_after
        # The request left and no answer was read (a read timeout, a dropped connection): the remote
        # may have acted on it, so a non-idempotent call (a WhatsApp send) must not simply be repeated.
        self.in_doubt = in_doubt


class RateLimited(TransientRemoteError):
    """The remote said to slow down; ``retry_after`` seconds is its own estimate when it gave one."""


class PermanentRemoteError(RemoteError):
    """Retrying cannot help; the failure becomes an event and a notice in the thread."""


class InvalidInput(TrazaError):
    """A request (command argument, payload, configuration) that cannot be acted on as given."""
