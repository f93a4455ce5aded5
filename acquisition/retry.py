"""One retry policy for every networked call, by kind of failure.

A failure is either *transient* (HTTP 408, 429 and 5xx, a dropped connection, a timeout): the
same call may succeed later, so it is retried with capped exponential back-off and jitter,
waiting what the server asks when it sends ``Retry-After``; or *permanent* (missing
credentials, any other 4xx, no scene, no granule, a bad region): it fails at once, with the
fix in the message. This is the only layer of retries: the clients' own retries are turned
off (Earth Engine's ``setMaxRetries(0)``, GDAL's ``GDAL_HTTP_MAX_RETRY=0``) and the flows do
not retry a fetch.
"""

from __future__ import annotations

import email.utils
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from landslide4sense.errors import SourceError

log = logging.getLogger(__name__)

T = TypeVar("T")
TRANSIENT_STATUSES = frozenset({408, 429})  # and every 5xx


class TransientError(SourceError):
    """A failure that may go away if the call is made again.

    Attributes:
        status: the HTTP status, or None for a connection failure.
        retry_after: seconds the server asked to wait (``Retry-After``), if it said.
    """

    def __init__(self, message: str, status: int | None = None, retry_after: float | None = None):
        super().__init__(message)
        self.status, self.retry_after = status, retry_after


class TooBigError(SourceError):
    """A well-formed request the service could not compute within its limits (Earth Engine's
    "User memory limit exceeded." or "Computation timed out.", both HTTP 400): the same request
    fails again, a smaller one may not (the caller splits it)."""


def is_transient(status: int) -> bool:
    """HTTP 408, 429 and 5xx are worth retrying; other statuses are final."""
    return status in TRANSIENT_STATUSES or 500 <= status <= 599


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delay-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def raise_for_status(status: int, reason: str, headers: Mapping[str, str], what: str, fix: str):
    """Raise the error an HTTP answer means: :class:`TransientError` for 408/429/5xx, a
    :class:`SourceError` naming ``what`` failed and ``fix`` for any other 4xx; nothing for
    success."""
    if status < 400:
        return
    if is_transient(status):
        raise TransientError(
            f"{what}: HTTP {status}: {reason}",
            status,
            retry_after_seconds(headers.get("Retry-After")),
        )
    raise SourceError(f"{what}: HTTP {status}: {reason}; {fix}")


@dataclass
class RetryPolicy:
    """Capped exponential back-off with jitter: attempt ``n`` (from 0) waits
    ``min(cap, base * 2**n) * U(0.5, 1.5)`` s, or the server's ``Retry-After`` (at most
    ``max_retry_after`` s) when it sent one.

    Args:
        attempts: tries in all, the first included.
        base: the first wait, in seconds.
        cap: the longest back-off wait, in seconds.
        max_retry_after: the longest ``Retry-After`` honoured; a longer one fails at once.
        seed: seeds the jitter (tests).
        sleep: how to wait (tests pass a recorder).
    """

    attempts: int = 6
    base: float = 1.0
    cap: float = 60.0
    max_retry_after: float = 600.0
    seed: int | None = None
    sleep: Callable[[float], None] = time.sleep
    _rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before try ``attempt + 1``."""
        if retry_after is not None:
            return retry_after
        return min(self.cap, self.base * 2**attempt) * self._rng.uniform(0.5, 1.5)

    def call(self, fn: Callable[[], T], what: str) -> T:
        """``fn()``, retried while it raises :class:`TransientError`.

        Raises:
            SourceError: ``fn`` failed for good (permanent failure, or still transient after
                every attempt, or a ``Retry-After`` beyond ``max_retry_after``).
        """
        for attempt in range(self.attempts):
            try:
                return fn()
            except TransientError as err:
                last = attempt == self.attempts - 1
                if last or (err.retry_after or 0) > self.max_retry_after:
                    raise SourceError(
                        f"{what} failed {attempt + 1} time(s), last: {err}; the service is "
                        "unavailable or overloaded: re-run later (finished work is cached)"
                    ) from err
                wait = self.delay(attempt, err.retry_after)
                log.info("%s: %s; retrying in %.1f s", what, err, wait)
                self.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover
