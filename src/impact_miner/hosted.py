"""What the connectors of hosted forges (GitHub, GitLab) share: the token a forge's CLI stores, the
errors that end or retry one request, and how a request retries (:mod:`impact_miner.http_policy`)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Mapping
from datetime import datetime

from impact_miner.errors import SourceError
from impact_miner.http_policy import Retry, WaitBudget, backoff, rerun_time

TRANSIENT_ATTEMPTS = 5  # one request, then four retries of a 5xx, timeout or broken connection
CLI_TIMEOUT = 30  # seconds a forge's CLI may take to print its stored token

RateLimitWait = Callable[[Mapping[str, str], datetime, int], float]


class Stop(SourceError):
    """Fetching stops (rate limited beyond max_wait, the forge keeps failing); what was fetched is kept."""


class RateLimited(Exception):
    """The forge said to slow down; its ``headers`` say how long."""

    def __init__(self, headers: Mapping[str, str]) -> None:
        super().__init__("rate limited")
        self.headers = headers


class Unavailable(Exception):
    """A 5xx, a timeout or a refused or broken connection: worth another attempt."""

    def __init__(self, reason: str, *, timeout: bool = False) -> None:
        super().__init__(reason)
        self.timeout = timeout


def retry_plan(
    source: str, budget: WaitBudget, wait_for: RateLimitWait
) -> Callable[[Exception], Retry | None]:
    """How one request retries: rate limits as long as the source's ``max_wait`` lasts (every worker of
    a batch backing off), other failures five attempts in all; anything else is not retried."""
    limited = transient = 0

    def plan(error: Exception) -> Retry | None:
        nonlocal limited, transient
        if isinstance(error, RateLimited):
            limited += 1
            return Retry(
                wait_for(error.headers, budget.now(), limited),
                hold=True,
                over_budget=lambda until: Stop(
                    f"rate limited until {rerun_time(until, budget.now())}; rerun after that"
                ),
            )
        if isinstance(error, Unavailable):
            transient += 1
            fix = f" or raise sources.{source}.timeout" if error.timeout else ""
            message = f"{error} ({plural(transient, 'attempt')}); rerun later{fix}"
            if transient >= TRANSIENT_ATTEMPTS:
                raise Stop(message)
            return Retry(backoff(transient, first=2.0), over_budget=lambda _until: Stop(message))
        return None

    return plan


def cli_token(argv: list[str], env: Mapping[str, str]) -> str:
    """The first line a forge CLI prints for its stored token (``gh auth token``), or ``""``."""
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=CLI_TIMEOUT, check=False, env=dict(env)
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    out = done.stdout.strip()
    return out.splitlines()[0] if done.returncode == 0 and out else ""


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
