"""The one HTTP retry policy: Retry-After and rate-limit resets, backoff, the wait budget, the retry loop.

Every connector and the LLM client retry through :mod:`impact_miner.http_policy`; their own tests show
each one honouring an HTTP-date ``Retry-After`` through it. Here the policy itself, with an injected
clock and sleep: no real time passes and no request is made.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
import requests.structures

from impact_miner.errors import Cancelled
from impact_miner.http_policy import (
    EPOCH_THRESHOLD,
    Retry,
    WaitBudget,
    backoff,
    call_with_retries,
    has_retry_after,
    rerun_time,
    reset_after,
    retry_after,
)
from impact_miner.registry import FetchContext

NOW = datetime(2026, 11, 28, 9, 30, tzinfo=UTC)


def http_date(moment: datetime) -> str:
    return format_datetime(moment.astimezone(UTC), usegmt=True)


# ---- Retry-After ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        ("0", 0.0),
        (" 7 ", 7.0),
        ("1.5", 1.5),  # not RFC 9110's delay-seconds, but what some servers send
        (http_date(NOW + timedelta(seconds=2)), 2.0),
        (http_date(NOW + timedelta(hours=1)), 3600.0),
        (http_date(NOW - timedelta(seconds=30)), 0.0),  # already past: go now, never a negative wait
        ("Saturday, 28-Nov-26 09:30:05 GMT", 5.0),  # the obsolete RFC 850 form
        ("Sat Nov 28 09:30:10 2026", 10.0),  # the obsolete asctime form: no zone, so GMT
        ("Sat, 28 Nov 2026 09:30:03 -0000", 3.0),  # an unknown zone: GMT
        ("Sat, 28 Nov 2026 11:30:04 +0200", 4.0),  # a zone offset is honoured
    ],
)
def test_retry_after_reads_seconds_and_http_dates(value: str, seconds: float) -> None:
    assert retry_after({"Retry-After": value}, NOW) == seconds


@pytest.mark.parametrize(
    "value",
    [
        "", "   ", "soon", "-5", "1e3", "inf", "nan", "0x10",
        "Sat, 32 Nov 2026 09:30:00 GMT", "Sat, 28 Nov 99999",
    ],
)
def test_an_unreadable_retry_after_counts_as_none(value: str) -> None:
    assert retry_after({"Retry-After": value}, NOW) is None
    assert has_retry_after({"Retry-After": value})  # it was there, though: GitHub's 403 says rate limit


def test_no_retry_after_is_none() -> None:
    assert retry_after({}, NOW) is None and not has_retry_after({"Content-Type": "application/json"})


@pytest.mark.parametrize(
    "headers",
    [
        {"retry-after": "30"},  # the connectors' lower-cased dicts
        {"RETRY-AFTER": "30"},
        requests.structures.CaseInsensitiveDict({"Retry-After": "30"}),
        httpx.Headers({"retry-after": "30"}),  # what litellm's and the OpenAI SDK's errors carry
    ],
    ids=["lower", "upper", "requests", "httpx"],
)
def test_retry_after_is_found_whatever_the_case_and_mapping(headers: Any) -> None:
    assert retry_after(headers, NOW) == 30.0


def test_an_http_date_is_counted_from_the_now_it_is_given() -> None:
    headers = {"Retry-After": http_date(NOW + timedelta(seconds=10))}
    assert retry_after(headers, NOW + timedelta(seconds=4)) == 6.0  # e.g. after 4 s of earlier waits
    assert retry_after(headers, NOW.astimezone(timezone(timedelta(hours=-5)))) == 10.0


# ---- rate-limit resets ---------------------------------------------------------------------------------


def test_x_ratelimit_reset_is_epoch_seconds() -> None:
    reset = str(int(NOW.timestamp()) + 90)
    assert reset_after({"X-RateLimit-Reset": reset}, NOW) == 90.0
    assert reset_after({"x-ratelimit-reset": reset}, NOW) == 90.0
    assert reset_after({"X-RateLimit-Reset": str(int(NOW.timestamp()) - 5)}, NOW) == 0.0  # already reset


def test_ratelimit_reset_is_read_by_name_as_epoch_or_delta_seconds() -> None:
    epoch = str(int(NOW.timestamp()) + 1)
    assert reset_after({"RateLimit-Reset": epoch}, NOW, "RateLimit-Reset") == 1.0  # GitLab: epoch
    assert reset_after({"RateLimit-Reset": "60"}, NOW, "RateLimit-Reset") == 60.0  # IETF draft: delta
    assert reset_after({"RateLimit-Reset": str(EPOCH_THRESHOLD - 1)}, NOW, "RateLimit-Reset") == float(
        EPOCH_THRESHOLD - 1
    )
    assert reset_after({"RateLimit-Reset": "60"}, NOW) is None  # the default name is X-RateLimit-Reset


@pytest.mark.parametrize("value", ["", "soon", "-1", "1e9", http_date(NOW)])
def test_an_unreadable_reset_is_none(value: str) -> None:
    assert reset_after({"X-RateLimit-Reset": value}, NOW) is None


# ---- backoff, the budget, when to rerun ----------------------------------------------------------------


def test_backoff_doubles_from_first_up_to_the_cap() -> None:
    assert [backoff(n) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 8.0]  # Jira, Prometheus, the LLM client
    assert [backoff(n, first=2.0) for n in (1, 2, 3, 4)] == [2.0, 4.0, 8.0, 16.0]  # GitHub, GitLab 5xx
    assert [backoff(n, first=60.0) for n in (1, 2, 3)] == [60.0, 120.0, 240.0]  # a rate limit, no hint
    assert [backoff(n, cap=20.0) for n in (4, 5, 6, 40)] == [8.0, 16.0, 20.0, 20.0]
    assert backoff(0) == backoff(1) == 1.0


def test_a_wait_budget_counts_what_was_waited_and_moves_its_clock() -> None:
    budget = WaitBudget(300, start=NOW)
    assert budget.now() == NOW and budget.allows(300) and not budget.allows(300.5)
    budget.spend(120)
    assert budget.waited == 120 and budget.now() == NOW + timedelta(seconds=120)
    assert budget.allows(180) and not budget.allows(181)
    assert WaitBudget(start=NOW).allows(10**9)  # no limit unless given


@pytest.mark.parametrize(
    ("when", "shown"),
    [
        (NOW + timedelta(minutes=30), "10:00 UTC"),
        (NOW + timedelta(minutes=30, seconds=1), "10:01 UTC"),  # never a minute that is still limited
        (NOW + timedelta(hours=20), "2026-11-29 05:30 UTC"),  # another day: with the date
        (datetime(2026, 11, 28, 12, 0, tzinfo=timezone(timedelta(hours=2))), "10:00 UTC"),
    ],
)
def test_rerun_time_is_the_next_whole_minute_in_utc(when: datetime, shown: str) -> None:
    assert rerun_time(when, NOW) == shown


# ---- the retry loop ------------------------------------------------------------------------------------


class Flaky(Exception):
    """A failure the plans below retry."""


class Fatal(Exception):
    """A failure the plans below do not retry."""


class Recorder:
    """The loop's view of the world, in order: throttle turns and holds, sleeps, attempts."""

    def __init__(self, outcomes: list[Any]) -> None:
        self.outcomes = outcomes
        self.log: list[tuple[str, Any]] = []

    def attempt(self) -> str:
        self.log.append(("attempt", len([e for e in self.log if e[0] == "attempt"]) + 1))
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return str(outcome)

    def wait(self, source: str) -> None:
        self.log.append(("wait", source))

    def hold(self, source: str, seconds: float) -> None:
        self.log.append(("hold", seconds))

    def sleep(self, seconds: float) -> None:
        self.log.append(("sleep", seconds))

    def entries(self, kind: str) -> list[Any]:
        return [value for name, value in self.log if name == kind]


def every_flaky(wait: float = 1.0, **retry: Any) -> Callable[[Exception], Retry | None]:
    return lambda error: Retry(wait, **retry) if isinstance(error, Flaky) else None


def test_a_success_is_returned_at_once() -> None:
    world = Recorder(["ok"])
    result = call_with_retries(world.attempt, every_flaky(), sleep=world.sleep, throttle=world, source="gh")
    assert result == "ok"
    assert world.log == [("wait", "gh"), ("attempt", 1)]


def test_failures_are_retried_with_the_planned_waits_taking_a_throttle_turn_each_time() -> None:
    world = Recorder([Flaky(), Flaky(), "ok"])
    waits = iter([2.0, 4.0])
    result = call_with_retries(
        world.attempt,
        lambda error: Retry(next(waits)),
        sleep=world.sleep,
        throttle=world,
        source="gh",
    )
    assert result == "ok"
    assert world.log == [
        ("wait", "gh"), ("attempt", 1), ("sleep", 2.0),
        ("wait", "gh"), ("attempt", 2), ("sleep", 4.0),
        ("wait", "gh"), ("attempt", 3),
    ]  # fmt: skip


def test_a_wait_the_server_asked_for_is_held_for_every_worker_before_sleeping() -> None:
    world = Recorder([Flaky(), "ok"])
    plan = every_flaky(7.0, hold=True)
    call_with_retries(world.attempt, plan, sleep=world.sleep, throttle=world, source="p")
    assert world.log == [
        ("wait", "p"), ("attempt", 1), ("hold", 7.0), ("sleep", 7.0), ("wait", "p"), ("attempt", 2)
    ]  # fmt: skip
    world = Recorder([Flaky(), "ok"])
    call_with_retries(world.attempt, every_flaky(7.0), sleep=world.sleep, throttle=world, source="p")
    assert world.entries("hold") == []  # a backoff of our own is not the batch's business


def test_an_error_the_plan_does_not_retry_is_raised_as_it_is() -> None:
    world = Recorder([Flaky(), Fatal("bad token")])
    with pytest.raises(Fatal) as raised:
        call_with_retries(world.attempt, every_flaky(), sleep=world.sleep)
    assert str(raised.value) == "bad token" and world.entries("attempt") == [1, 2]


def test_a_plan_gives_up_by_raising_without_the_failed_attempt_as_context() -> None:
    world = Recorder([Flaky("Authorization: Bearer s3cret")] * 3)
    tries = 0

    def plan(error: Exception) -> Retry | None:
        nonlocal tries
        tries += 1
        if tries == 3:
            raise RuntimeError(f"kept failing ({tries} attempts)")
        return Retry(1.0)

    with pytest.raises(RuntimeError) as raised:
        call_with_retries(world.attempt, plan, sleep=world.sleep)
    assert str(raised.value) == "kept failing (3 attempts)"
    assert raised.value.__context__ is None and raised.value.__cause__ is None  # no header text tags along
    assert world.entries("sleep") == [1.0, 1.0]


def test_a_wait_beyond_the_budget_ends_with_the_clients_message_and_no_wait() -> None:
    budget = WaitBudget(300, start=NOW)
    world = Recorder([Flaky(), Flaky(), "ok"])
    waits = iter([200.0, 150.0])
    seen: list[datetime] = []

    def over(until: datetime) -> Exception:
        seen.append(until)
        return RuntimeError(f"rate limited until {rerun_time(until, budget.now())}; rerun after that")

    with pytest.raises(RuntimeError) as raised:
        call_with_retries(
            world.attempt,
            lambda error: Retry(next(waits), hold=True, over_budget=over),
            sleep=world.sleep,
            budget=budget,
            throttle=world,
            source="gh",
        )
    assert str(raised.value) == "rate limited until 09:36 UTC; rerun after that"
    assert seen == [NOW + timedelta(seconds=350)]  # 200 s waited, then 150 s more would have ended there
    assert world.entries("sleep") == [200.0] and world.entries("hold") == [200.0]  # no hold past the budget
    assert budget.waited == 200.0 and budget.now() == NOW + timedelta(seconds=200)


def test_a_wait_beyond_the_budget_without_a_message_raises_the_attempts_error() -> None:
    world = Recorder([Flaky("HTTP 503")])
    with pytest.raises(Flaky, match="HTTP 503"):
        call_with_retries(
            world.attempt, every_flaky(61.0), sleep=world.sleep, budget=WaitBudget(60, start=NOW)
        )
    assert world.entries("sleep") == []


def test_waits_that_fit_the_budget_exactly_are_taken() -> None:
    budget = WaitBudget(6, start=NOW)
    world = Recorder([Flaky(), Flaky(), "ok"])
    waits = iter([2.0, 4.0])
    call_with_retries(world.attempt, lambda error: Retry(next(waits)), sleep=world.sleep, budget=budget)
    assert world.entries("sleep") == [2.0, 4.0] and budget.waited == 6.0


def test_a_cancelled_run_makes_no_attempt_at_all() -> None:
    context = FetchContext(now=NOW)
    context.cancel.set()
    world = Recorder(["ok"])
    with pytest.raises(Cancelled):
        call_with_retries(
            world.attempt,
            every_flaky(),
            sleep=world.sleep,
            throttle=world,
            check_cancelled=context.check_cancelled,
        )
    assert world.log == []


def test_a_run_cancelled_during_a_wait_makes_no_further_attempt_and_the_wait_ends_at_once() -> None:
    context = FetchContext(now=NOW)  # its default sleep ends as soon as the run is cancelled
    world = Recorder([Flaky(), "ok"])
    threading.Timer(0.05, context.cancel.set).start()
    started = datetime.now(UTC)
    with pytest.raises(Cancelled):
        call_with_retries(
            world.attempt, every_flaky(30.0), sleep=context.sleep, check_cancelled=context.check_cancelled
        )
    assert world.entries("attempt") == [1]
    assert datetime.now(UTC) - started < timedelta(seconds=5)
