"""The one retry policy, and the block downloader's small functions."""

import email.utils
import time
from pathlib import Path

import pytest
from affine import Affine

from landslide4sense.acquisition.download import (
    BlockResult,
    block_path,
    fetch_block,
    peak_overlap,
    plan_blocks,
    request_key,
    summarize,
)
from landslide4sense.acquisition.retry import (
    RetryPolicy,
    TransientError,
    is_transient,
    raise_for_status,
    retry_after_seconds,
)
from landslide4sense.errors import SourceError
from landslide4sense.geo import Grid


def test_statuses_by_kind():
    assert [
        s for s in (200, 400, 401, 403, 404, 408, 429, 500, 502, 503, 504) if is_transient(s)
    ] == [408, 429, 500, 502, 503, 504]
    with pytest.raises(TransientError) as err:
        raise_for_status(503, "busy", {"Retry-After": "12"}, "call", "fix it")
    assert err.value.status == 503 and err.value.retry_after == 12.0
    with pytest.raises(SourceError, match="call: HTTP 403: no; fix it") as err:
        raise_for_status(403, "no", {}, "call", "fix it")
    assert not isinstance(err.value, TransientError)
    raise_for_status(200, "", {}, "call", "")  # success: nothing


def test_retry_after_as_seconds_or_a_date():
    assert retry_after_seconds("7") == 7.0
    now = time.time()
    when = email.utils.formatdate(now + 30, usegmt=True)
    assert 28 <= retry_after_seconds(when, now) <= 31
    assert retry_after_seconds(None) is None and retry_after_seconds("soon") is None


def test_backoff_is_capped_exponential_with_jitter_or_what_the_server_asks():
    policy = RetryPolicy(base=1, cap=8, seed=0)
    delays = [policy.delay(n) for n in range(6)]
    for n, d in enumerate(delays):
        assert 0.5 * min(8, 2**n) <= d <= 1.5 * min(8, 2**n)
    assert policy.delay(3, retry_after=42.0) == 42.0


def test_call_retries_transient_failures_only():
    sleeps, calls = [], []
    policy = RetryPolicy(attempts=4, base=1, seed=0, sleep=sleeps.append)

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise TransientError("503", 503)
        return "done"

    assert policy.call(flaky, "flaky") == "done" and len(calls) == 3 and len(sleeps) == 2

    def refused():
        calls.append(1)
        raise SourceError("HTTP 401; log in")

    calls.clear()
    with pytest.raises(SourceError, match="log in"):
        policy.call(refused, "refused")
    assert len(calls) == 1  # permanent: once

    def down():
        raise TransientError("down", 503, retry_after=1.0)

    sleeps.clear()
    with pytest.raises(SourceError, match=r"down failed 4 time\(s\), last: down; .*re-run later"):
        policy.call(down, "down")
    assert sleeps == [1.0, 1.0, 1.0]
    with pytest.raises(SourceError, match="failed 1 time"):  # asks to wait too long: give up
        RetryPolicy(max_retry_after=10).call(lambda: down_for(3600), "later")


def down_for(seconds: float):
    raise TransientError("busy", 429, retry_after=seconds)


def test_peak_overlap_of_intervals():
    assert peak_overlap([]) == 0
    assert peak_overlap([(0, 1), (1, 2)]) == 1  # touching ends do not overlap
    assert peak_overlap([(0, 10), (1, 2), (1.5, 3), (2.5, 4)]) == 3


def test_summarize_counts_requests_retries_and_cache_hits(tmp_path):
    results = [None, BlockResult(10, ((0, 1), (1, 3)), 1), BlockResult(5, ((0, 2),))]
    r = summarize([tmp_path / str(i) for i in range(3)], results, seconds=3.0)
    assert (r.cache_hits, r.requests, r.retries, r.bytes) == (1, 3, 1, 15)
    assert r.max_in_flight == 2 and r.busy_seconds == 5 and r.seconds == 3.0


def test_fetch_block_writes_atomically_and_retries(tmp_path):
    req = plan_blocks("g", ("B02",), Grid("EPSG:32633", Affine(10, 0, 0, 0, -10, 0), 4, 4))[0]
    body = {"grid": 1}
    path = block_path(tmp_path, body)
    assert path == tmp_path / request_key(body)[:2] / f"{request_key(body)}.tif"
    tries = []

    def send(b: dict, dest: Path) -> int:
        tries.append(dest)
        dest.write_bytes(b"partial")
        if len(tries) == 1:
            raise TransientError("cut off")
        dest.write_bytes(b"whole")
        return 5

    result = fetch_block(req, lambda r: body, send, tmp_path, RetryPolicy(base=0, seed=0))
    assert result.bytes == 5 and len(result.attempts) == 2 and path.read_bytes() == b"whole"
    assert result.retries == 1
    assert not tries[0].exists() and sorted(p.name for p in path.parent.iterdir()) == [path.name]

    def refused(b: dict, dest: Path) -> int:
        dest.write_bytes(b"error page")
        raise SourceError("HTTP 403")

    other = block_path(tmp_path, {"grid": 2})
    with pytest.raises(SourceError):
        fetch_block(req, lambda r: {"grid": 2}, refused, tmp_path, RetryPolicy())
    assert not other.parent.exists() or not list(other.parent.iterdir())  # nothing left
