"""Waiting for a condition with a deadline, on ``tenacity`` (pinned with Airflow).

The local stack's waits (a server starting, Airflow healthy, a DAG parsed, a run ending, a
cancelled Spark job gone) are a :func:`poll`: tenacity does the retry loop, this adds
the one error that says what was awaited and what was last seen.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import tenacity

T = TypeVar("T")


class PollTimeoutError(TimeoutError):
    """The condition did not hold in time; the message names it and the last result or error."""


def poll(
    probe: Callable[[], T],
    *,
    until: Callable[[T], bool] = bool,
    timeout: float,
    interval: float,
    what: str,
    retry_on: tuple[type[BaseException], ...] = (),
) -> T:
    """Call ``probe`` every ``interval`` seconds until ``until(result)`` holds; return that result.

    An exception of a type in ``retry_on`` counts as "not yet"; any other propagates at once.

    Raises:
        PollTimeoutError: ``timeout`` seconds passed first (the message ends with the last result
            or the last ``retry_on`` error).
    """
    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_delay(timeout),
        wait=tenacity.wait_fixed(interval),
        retry=tenacity.retry_if_exception_type(retry_on) | tenacity.retry_if_result(lambda r: not until(r)),
    )
    try:
        return retrying(probe)
    except tenacity.RetryError as error:
        last = error.last_attempt
        seen = repr(last.exception()) if last.failed else repr(last.result())
        raise PollTimeoutError(f"{what}: not after {timeout:.0f} s; last seen: {seen[:3000]}") from None
