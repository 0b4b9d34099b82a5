"""Metric series from a Prometheus server's HTTP API (``/api/v1/query_range``), one named PromQL query each.

Configuration::

    [sources.prod]
    type = "prometheus"
    url = "http://127.0.0.1:9090"      # the server (a path prefix such as /prometheus is kept)
    window = "7d"                       # before/after window around each project's work (default 7d)
    step = "5m"                         # optional finest resolution; default: as fine as max_points allows
    max_points = 11000                  # points per query: Prometheus's own limit (lower: coarser, smaller)
    timeout = 30                        # seconds per request (default 30)
    retries = 2                         # extra attempts on connection errors, 429 and 5xx (default 2)
    token = "env:PROMETHEUS_TOKEN"      # optional bearer token (never logged or cached)
    min_points = 3                      # fewer points on a side marks a result weak (default 3)
    noise_sigmas = 2                    # a change under this many σ of the before window is weak

    [[sources.prod.metrics]]
    name = "search p95 latency"
    query = 'histogram_quantile(0.95, sum by (le) (rate(search_latency_seconds_bucket[5m])))'
    unit = "ms"
    scale = 1000                        # optional multiplier into the unit (seconds → ms)
    better = "lower"                    # or "higher"
    links = ["SEARCH-1", "acme/search"] # ticket keys, epics, repositories, labels, services
    window = "14d"                      # optional per-metric window

Requests: **one** ``query_range`` per metric (plus retries), covering the padded range
``[since − window, min(until + window, now))`` that every before/after window of the run's projects lies
in — the connector runs before projects exist, so it cannot ask for less. The step is the smallest of
15s, 30s, 1m, 2m, 5m, 10m, 15m, 30m, 1h, 2h, 3h, 6h, 12h, 1d that is at least ``step`` and keeps the
query within ``max_points``; the start is aligned to a multiple of the step so reruns ask the same
question. A query whose range had ended (plus 5 minutes) when it was fetched is cached.

Each query must return exactly one series (aggregate it, e.g. ``sum(...)``); values are multiplied by
``scale``, NaN and ±Inf are dropped. Each metric becomes one evidence row
``metric:<name>@<start>..<end>`` whose url opens the query in Prometheus's graph page.

Interrupts: once the run is interrupted (Ctrl-C, SIGTERM, a stopped batch) no further request is
made, retry waits end at once, and the fetch stops (:class:`~impact_miner.errors.Cancelled`).

Retries wait what ``Retry-After`` asks (seconds or an HTTP-date, at most 60 s), else 1 s, 2 s, 4 s …

Errors: an unreachable server fails the source after the retries (no further metric is tried); a query
Prometheus rejects (HTTP 400 ``bad_data``, 422 ``execution``) is quoted in coverage; a query with no
data or several series marks the source partial; when every metric fails, the source fails.
Prometheus's own warnings are shown in coverage. With ``mine team`` the requests share its pacing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from impact_miner import __version__
from impact_miner.cache import cached
from impact_miner.errors import ConfigError, SourceError
from impact_miner.http_policy import (
    DEFAULT_TIMEOUT,
    Retry,
    WaitBudget,
    backoff,
    call_with_retries,
    retry_after,
)
from impact_miner.metrics import (
    Judging,
    MetricSpec,
    judging_of,
    metric_evidence,
    metric_specs,
    padded_range,
    parse_duration,
)
from impact_miner.model import Evidence, FetchResult, Person, SourceReport, SourceSection, TimeRange
from impact_miner.registry import Connector, FetchContext

if TYPE_CHECKING:
    import requests

STEPS = (15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)
PROMETHEUS_MAX_POINTS = 11_000
DEFAULT_MAX_POINTS = 11_000
DEFAULT_RETRIES = 2
MAX_RETRIES = 10
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_RETRY_WAIT = 60.0
LOOKBACK = timedelta(minutes=5)  # Prometheus's default lookback: data this recent may still change
CACHE_NAMESPACE = "prometheus"
OPTIONS = frozenset(
    {
        "type", "enabled", "url", "window", "step", "max_points", "timeout", "retries", "token",
        "min_points", "noise_sigmas", "metrics",
    }
)  # fmt: skip


@dataclass(frozen=True)
class Settings:
    """A validated ``[sources.NAME]`` section of type prometheus."""

    url: str
    metrics: list[MetricSpec]
    judging: Judging
    step: float
    max_points: int
    timeout: float
    retries: int
    token: str


class _Transient(Exception):
    """A failure worth retrying: no connection, a timeout, 429 or 5xx (``headers``: the answer's)."""

    def __init__(
        self, message: str, headers: Mapping[str, str] | None = None, *, connection: bool = False
    ) -> None:
        super().__init__(message)
        self.headers: Mapping[str, str] = headers if headers is not None else {}
        self.connection = connection


class _Unreachable(SourceError):
    """The server cannot be reached at all: no further metric is tried."""


class _QueryFailed(Exception):
    """One metric's query failed; the others go on."""


def check(section: SourceSection) -> None:
    """Validate the section before any request."""
    settings(section)


def settings(section: SourceSection) -> Settings:
    """The section's settings, validated (raises ConfigError with what to fix)."""
    where = f"sources.{section.name}"
    url = section.get("url")
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f'[{where}] needs the server `url`, e.g. url = "http://127.0.0.1:9090"')
    metrics = metric_specs(section.options, where, needs_query=True)
    if not metrics:
        raise ConfigError(
            f"[{where}] names no metrics; add [[{where}.metrics]] tables with a name and a PromQL query"
        )
    step = parse_duration(section.get("step", 1), f"{where}.step").total_seconds()
    max_points = section.get("max_points", DEFAULT_MAX_POINTS)
    if not isinstance(max_points, int) or isinstance(max_points, bool) or not 2 <= max_points <= 11_000:
        raise ConfigError(f"{where}.max_points must be a whole number from 2 to 11000 (Prometheus's limit)")
    timeout = section.get("timeout", DEFAULT_TIMEOUT)
    if not isinstance(timeout, int | float) or isinstance(timeout, bool) or timeout <= 0:
        raise ConfigError(f"{where}.timeout must be a number of seconds above 0, e.g. timeout = 30")
    retries = section.get("retries", DEFAULT_RETRIES)
    if not isinstance(retries, int) or isinstance(retries, bool) or not 0 <= retries <= MAX_RETRIES:
        raise ConfigError(f"{where}.retries must be a whole number from 0 to {MAX_RETRIES}")
    token = section.get("token", "")
    if not isinstance(token, str):
        raise ConfigError(f'{where}.token must be a string, e.g. token = "env:PROMETHEUS_TOKEN"')
    return Settings(
        url=str(url).rstrip("/"),
        metrics=metrics,
        judging=judging_of(section.options, where),
        step=step,
        max_points=max_points,
        timeout=float(timeout),
        retries=retries,
        token=token,
    )


def choose_step(start: datetime, end: datetime, finest: float, max_points: int) -> int:
    """The smallest standard step ≥ ``finest`` that keeps ``[start, end]`` within ``max_points`` points."""
    span = max((end - start).total_seconds(), 0.0)
    needed = max(finest, span / (max_points - 1) if max_points > 1 else span)
    return next((s for s in STEPS if s >= needed), math.ceil(needed / STEPS[-1]) * STEPS[-1])


def query_window(start: datetime, end: datetime, step: int) -> tuple[int, int]:
    """``(start, end)`` in epoch seconds, the start aligned down to a multiple of ``step``."""
    first = math.floor(start.timestamp() / step) * step
    return first, max(first, math.floor(end.timestamp()))


def graph_url(base: str, query: str, start: int, end: int, step: int) -> str:
    """The Prometheus graph page showing ``query`` over ``[start, end]``."""
    hours = max(1, math.ceil((end - start) / 3600))
    params = {
        "g0.expr": query,
        "g0.tab": "0",
        "g0.range_input": f"{hours}h",
        "g0.end_input": datetime.fromtimestamp(end, UTC).strftime("%Y-%m-%d %H:%M:%S"),
        "g0.step_input": str(step),
    }
    return f"{base}/graph?{urlencode(params)}"


def fetch(
    person: Person, time_range: TimeRange, section: SourceSection, context: FetchContext
) -> FetchResult:
    """One ``query_range`` per metric over the padded range; one evidence row per metric with data."""
    config = settings(section)
    client = _Client(config, context, section.name)
    evidence: list[Evidence] = []
    failures: list[str] = []
    notes: list[str] = []  # Prometheus's warnings: shown, but the data came back
    steps: set[int] = set()
    points = 0
    try:
        for spec in config.metrics:
            context.check_cancelled()  # Ctrl-C or SIGTERM: no further metric is asked for
            start, end = padded_range(time_range, spec.window, context.now)
            step = choose_step(start, end, config.step, config.max_points)
            first, last = query_window(start, end, step)
            params = {"query": spec.query, "start": str(first), "end": str(last), "step": str(step)}
            closed = datetime.fromtimestamp(last, UTC) + LOOKBACK <= context.now
            try:
                data = cached(
                    context.cache,
                    CACHE_NAMESPACE,
                    {"url": config.url, **params},
                    partial(client.query_range, params),
                    storable=partial(_always, closed),
                )
                series = _one_series(data, first, last)
            except _QueryFailed as exc:
                failures.append(f"{spec.name}: {exc}")
                continue
            steps.add(step)
            points += len(series)
            notes += [f"{spec.name}: Prometheus warns: {w}" for w in data.get("warnings") or []]
            evidence.append(
                metric_evidence(
                    spec,
                    ((t, v * spec.scale) for t, v in series),
                    source_type="prometheus",
                    section_name=section.name,
                    start=datetime.fromtimestamp(first, UTC),
                    end=datetime.fromtimestamp(last, UTC),
                    url=graph_url(config.url, spec.query, first, last, step),
                    body=f"PromQL: {spec.query}",
                    time_range=time_range,
                    judging=Judging(spec.window, config.judging.min_points, config.judging.noise_sigmas),
                    extra={"query": spec.query, "step_seconds": step, "server": config.url},
                )
            )
    finally:
        client.close()
    if failures and not evidence:
        raise SourceError("; ".join(failures))
    summary = (
        f"{len(evidence)} of {len(config.metrics)} metrics, {points} points in {client.requests} "
        f"{'request' if client.requests == 1 else 'requests'}"
    )
    if steps:
        summary += f" (step {', '.join(_duration(s) for s in sorted(steps))})"
    report = SourceReport(
        source=section.name,
        status="partial" if failures else "ok",
        items=len(evidence),
        detail="; ".join([summary, *failures, *notes]),
        type="prometheus",
    )
    return FetchResult(evidence=evidence, report=report)


def _always(value: bool, _result: Any) -> bool:
    return value


class _Client:
    """One HTTP session to the server; counts the requests it makes."""

    def __init__(self, config: Settings, context: FetchContext, source: str) -> None:
        import requests

        self.config = config
        self.context = context
        self.source = source
        self.requests = 0
        self.budget = WaitBudget(start=context.now)  # no total; its clock dates a Retry-After
        self.session = requests.Session()
        self.session.headers["User-Agent"] = f"impact-miner/{__version__}"
        self.session.headers["Accept"] = "application/json"
        if config.token:
            self.session.headers["Authorization"] = f"Bearer {config.token}"

    def close(self) -> None:
        self.session.close()

    def query_range(self, params: dict[str, str]) -> dict[str, Any]:
        """The ``data`` of one successful query_range answer, retrying transient failures (bounded)."""
        return call_with_retries(
            partial(self._once, params),
            self._plan(),
            sleep=self.context.sleep,
            budget=self.budget,
            throttle=self.context.throttle,
            source=self.source,
            check_cancelled=self.context.check_cancelled,  # not even a retry once the run is interrupted
        )

    def _once(self, params: dict[str, str]) -> dict[str, Any]:
        self.requests += 1
        return _attempt(self.session, self.config, params)

    def _plan(self) -> Callable[[Exception], Retry | None]:
        """``retries`` more attempts after a _Transient, waiting what Retry-After says (at most
        MAX_RETRY_WAIT) or 1 s, 2 s, 4 s …"""
        config, throttle = self.config, self.context.throttle
        tries = 0

        def plan(error: Exception) -> Retry | None:
            nonlocal tries
            if not isinstance(error, _Transient):
                return None
            tries += 1
            asked = retry_after(error.headers, self.budget.now())
            wait = min(asked, MAX_RETRY_WAIT) if asked is not None else backoff(tries, cap=MAX_RETRY_WAIT)
            if tries <= config.retries:
                return Retry(wait, hold=asked is not None)
            if asked is not None and throttle is not None:
                throttle.hold(self.source, wait)  # this fetch gives up, but the batch's other workers wait
            attempts = config.retries + 1
            tried = f"after {attempts} {'attempt' if attempts == 1 else 'attempts'}"
            if error.connection:
                raise _Unreachable(
                    f"cannot reach Prometheus at {config.url}: {error} ({tried}); check `url` and that the "
                    "server is running"
                )
            raise _QueryFailed(f"Prometheus at {config.url} kept failing: {error} ({tried})")

        return plan


def _attempt(session: requests.Session, config: Settings, params: dict[str, str]) -> dict[str, Any]:
    import requests

    try:
        response = session.get(f"{config.url}/api/v1/query_range", params=params, timeout=config.timeout)
    except requests.Timeout:
        raise _Transient(f"no answer within {config.timeout:g} s (timeout)") from None
    except requests.ConnectionError as exc:
        raise _Transient(_connection_reason(exc), connection=True) from None
    body = _json(response)
    if response.status_code in RETRY_STATUSES:
        reason = _prometheus_error(body) or response.reason or ""
        raise _Transient(f"HTTP {response.status_code} {reason}".strip(), response.headers)
    if response.status_code in (401, 403):
        raise _Unreachable(
            f"Prometheus at {config.url} answered HTTP {response.status_code} {response.reason}; "
            "set or fix `token` in the source's section"
        )
    if body is None:
        snippet = " ".join(response.text.split())[:120]
        raise _QueryFailed(
            f"{config.url} answered HTTP {response.status_code} with a non-JSON body ({snippet!r}); "
            "check that `url` points at the Prometheus server, e.g. http://host:9090"
        )
    if body.get("status") != "success":
        quoted = _prometheus_error(body) or f"status {body.get('status')!r}"
        raise _QueryFailed(f"Prometheus rejected the query (HTTP {response.status_code}): {quoted}")
    data = body.get("data")
    if not isinstance(data, dict):
        raise _QueryFailed("Prometheus answered without `data`")
    warnings = body.get("warnings")
    return {**data, "warnings": warnings} if isinstance(warnings, list) and warnings else data


def _one_series(data: dict[str, Any], start: int, end: int) -> list[tuple[float, float]]:
    """The samples of the query's single series; raises _QueryFailed for none or several."""
    result = data.get("result")
    if data.get("resultType") != "matrix" or not isinstance(result, list):
        raise _QueryFailed(f"expected a range vector (matrix), got {data.get('resultType')!r}")
    window = (
        f"between {datetime.fromtimestamp(start, UTC):%Y-%m-%d %H:%M} and "
        f"{datetime.fromtimestamp(end, UTC):%Y-%m-%d %H:%M} UTC"
    )
    if not result:
        raise _QueryFailed(
            f"empty series: the query returned no data {window}; check the metric name and labels"
        )
    if len(result) > 1:
        shown = ", ".join(_labels(series.get("metric", {})) for series in result[:3])
        raise _QueryFailed(
            f"the query returned {len(result)} series ({shown}{', …' if len(result) > 3 else ''}); "
            "aggregate it to one, e.g. sum(...) or max(...)"
        )
    samples = []
    for point in result[0].get("values") or []:
        try:
            moment, value = float(point[0]), float(point[1])
        except (TypeError, ValueError, IndexError):
            continue
        if math.isfinite(value):
            samples.append((moment, value))
    if not samples:
        raise _QueryFailed(f"empty series: only NaN or infinite values {window}")
    return samples


def _json(response: requests.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _prometheus_error(body: dict[str, Any] | None) -> str:
    """Prometheus's own words: ``bad_data: 1:6: parse error: unclosed left parenthesis``."""
    if not body or body.get("status") != "error":
        return ""
    kind, error = body.get("errorType"), body.get("error")
    return ": ".join(str(part) for part in (kind, error) if part)


def _connection_reason(error: Exception) -> str:
    text = str(error)
    for marker in ("Connection refused", "Name or service not known", "No route to host", "timed out"):
        if marker in text:
            return marker.lower()
    return f"connection failed ({type(error).__name__})"


def _labels(metric: Any) -> str:
    if not isinstance(metric, dict) or not metric:
        return "{}"
    name = metric.get("__name__", "")
    labels = ",".join(f'{k}="{v}"' for k, v in sorted(metric.items()) if k != "__name__")
    return f"{name}{{{labels}}}"


def _duration(seconds: int) -> str:
    for size, unit in ((86400, "d"), (3600, "h"), (60, "m")):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


connector = Connector(
    type="prometheus",
    summary="named PromQL queries from a Prometheus server, compared before/after linked work",
    fetch=fetch,
    check=check,
    options=OPTIONS,
)
