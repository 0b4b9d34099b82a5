"""One HTTP retry policy for every connector and the LLM client.

- :func:`retry_after` is the one ``Retry-After`` parser: delay-seconds (``120``; ``1.5`` is accepted too)
  or an HTTP-date (``Wed, 21 Oct 2026 07:28:00 GMT``, and the obsolete RFC 850 and asctime forms), as
  seconds from ``now``. A date in the past is 0 seconds; a value that is neither (``soon``, ``-5``) counts
  as no header at all, so the client's own schedule applies.
- :func:`reset_after` reads ``X-RateLimit-Reset`` (GitHub) or ``RateLimit-Reset`` (GitLab): epoch seconds,
  or delta-seconds for a value below :data:`EPOCH_THRESHOLD` (the IETF RateLimit header draft).
- :func:`backoff` is the exponential schedule: ``first``, 2×``first``, 4×``first``, … capped at ``cap``.
- :class:`WaitBudget` is the total number of seconds a source may spend waiting, and the clock those
  waits advance; :func:`rerun_time` says when to rerun once it is spent.
- :func:`call_with_retries` is the loop: stop if the run was cancelled, take the throttle's turn, make one
  attempt; on a failure the client's ``plan`` says how long to wait (:class:`Retry`), or raises to give up;
  a wait that would overrun the budget ends the loop with the client's own message; a wait the server
  asked for is announced to the throttle (``hold``), so every worker of a ``mine team`` batch backs off
  too; then the injected ``sleep`` (tests record it; a cancelled run's default sleep ends at once).

What is worth another attempt, how many attempts, and which message ends a source stay with each client
(its ``plan``), so that each keeps its own documented behaviour. ``now`` is always a parameter: the
connectors count it from the run's ``now`` plus the time they have waited (so "rerun after 01:00 UTC"
is reproducible), the LLM client reads the wall clock; tests pin either without patching anything.
Nothing here imports an HTTP library: headers are any mapping (``requests``' and ``httpx``'s
case-insensitive ones, or a plain ``dict``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from impact_miner.registry import Throttle

T = TypeVar("T")

DEFAULT_TIMEOUT = 30  # seconds per request, unless a source's `timeout` says otherwise
RETRY_AFTER = "Retry-After"
# A reset value at least this large is epoch seconds (2001-09-09); below it, seconds from now.
EPOCH_THRESHOLD = 1_000_000_000
DELAY_SECONDS = re.compile(r"\d+(?:\.\d+)?")


def header(headers: Mapping[str, str], name: str) -> str | None:
    """The value of header ``name`` in any mapping, whatever the case of its keys."""
    value = headers.get(name)
    if value is None:
        wanted = name.lower()
        value = next((v for k, v in headers.items() if str(k).lower() == wanted), None)
    return None if value is None else str(value)


def has_retry_after(headers: Mapping[str, str]) -> bool:
    """Whether the answer carries a ``Retry-After`` header at all (readable or not)."""
    return header(headers, RETRY_AFTER) is not None


def retry_after(headers: Mapping[str, str], now: datetime) -> float | None:
    """Seconds to wait that ``Retry-After`` asks for, counted from ``now`` (timezone-aware) for a date.

    ``None`` when the header is missing or unreadable; never negative.
    """
    value = (header(headers, RETRY_AFTER) or "").strip()
    if not value:
        return None
    if DELAY_SECONDS.fullmatch(value):
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # "-0000" and the asctime form carry no zone: HTTP-dates are GMT
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def reset_after(headers: Mapping[str, str], now: datetime, name: str = "X-RateLimit-Reset") -> float | None:
    """Seconds until the rate-limit window of header ``name`` resets: epoch seconds (GitHub's
    ``X-RateLimit-Reset``, GitLab's ``RateLimit-Reset``) or, below :data:`EPOCH_THRESHOLD`, seconds from
    now. ``None`` when missing or not a number; never negative."""
    value = (header(headers, name) or "").strip()
    if not DELAY_SECONDS.fullmatch(value):
        return None
    number = float(value)
    seconds = number - now.timestamp() if number >= EPOCH_THRESHOLD else number
    return max(0.0, seconds)


def backoff(retry: int, *, first: float = 1.0, cap: float = math.inf) -> float:
    """The wait before retry number ``retry`` (1, 2, …): ``first`` doubled each time, at most ``cap``."""
    return min(cap, first * 2.0 ** (max(retry, 1) - 1))


class WaitBudget:
    """The seconds a source may spend waiting in total (``limit``), and the clock its waits advance.

    ``now()`` is ``start`` plus the time waited so far: what a client with an injected ``sleep`` knows of
    the time, so that "rate limited until 01:00 UTC" comes out the same in a test as in a run.
    """

    def __init__(self, limit: float = math.inf, *, start: datetime) -> None:
        self.limit = limit
        self.start = start
        self.waited = 0.0

    def now(self) -> datetime:
        return self.start + timedelta(seconds=self.waited)

    def allows(self, seconds: float) -> bool:
        return self.waited + seconds <= self.limit

    def spend(self, seconds: float) -> None:
        self.waited += seconds


def rerun_time(when: datetime, now: datetime) -> str:
    """``when`` as a time to rerun at, in UTC: ``01:00 UTC``, with the date when it is not ``now``'s day.

    Rounded up to the minute: "until 02:01" for 02:00:01, never a minute that is still limited.
    """
    when, now = when.astimezone(UTC), now.astimezone(UTC)
    ceiled = when.replace(second=0, microsecond=0)
    if ceiled < when:
        ceiled += timedelta(minutes=1)
    return f"{ceiled:%H:%M} UTC" if ceiled.date() == now.date() else f"{ceiled:%Y-%m-%d %H:%M} UTC"


@dataclass(frozen=True)
class Retry:
    """A client's verdict on a failed attempt: try again after ``wait`` seconds.

    ``hold``: the server asked for the wait (429, ``Retry-After``), so the throttle hears of it and every
    worker of a batch backs off. ``over_budget``: the error that ends the loop instead when the wait does
    not fit the :class:`WaitBudget`, given the moment the wait would have ended.
    """

    wait: float
    hold: bool = False
    over_budget: Callable[[datetime], BaseException] | None = None


def call_with_retries(
    attempt: Callable[[], T],
    plan: Callable[[Exception], Retry | None],
    *,
    sleep: Callable[[float], None],
    budget: WaitBudget | None = None,
    throttle: Throttle | None = None,
    source: str = "",
    check_cancelled: Callable[[], None] | None = None,
) -> T:
    """``attempt()``'s result, making it again as long as ``plan`` returns a :class:`Retry` for its error.

    Before every attempt: ``check_cancelled()`` (raises once the run is interrupted: no further request),
    then ``throttle.wait(source)``. ``plan(error)`` returns ``None`` for an error that is not worth
    another attempt (it is raised as it is), or raises the error that ends the source. It runs outside
    the ``except`` block, so what it raises does not drag the failed attempt's exception (whose text may
    hold request headers) along as its context. A wait that ``budget`` does not allow raises
    ``retry.over_budget(end)`` (or the attempt's own error without one).
    """
    while True:
        if check_cancelled is not None:
            check_cancelled()
        if throttle is not None:
            throttle.wait(source)
        try:
            return attempt()
        except Exception as error:
            failure = error
        retry = plan(failure)
        if retry is None:
            raise failure
        if budget is not None and not budget.allows(retry.wait):
            if retry.over_budget is None:
                raise failure
            raise retry.over_budget(budget.now() + timedelta(seconds=retry.wait))
        if retry.hold and throttle is not None:
            throttle.hold(source, retry.wait)
        sleep(retry.wait)
        if budget is not None:
            budget.spend(retry.wait)
