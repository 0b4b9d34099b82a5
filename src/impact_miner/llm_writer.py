"""The LLM writer: one statement per project through litellm, verified, redacted, cached and concurrent.

Configuration (``[llm]`` in the config file; the CLI flags win)::

    [llm]
    model = "openai/gpt-4o-mini"     # any litellm model string; "ollama/llama3.1"; "offline" = no model
    api_base = "http://127.0.0.1:11434/v1"   # an OpenAI-compatible server (optional)
    api_key = "env:OPENAI_API_KEY"   # or cmd:/file:; default: the provider's usual environment variable
    timeout = 60                     # seconds per call; a call that takes longer is not retried
    concurrency = 4                  # projects written at the same time
    token_budget = 3000              # evidence tokens per project (tiktoken cl100k_base, see below)
    max_retries = 2                  # extra attempts after a 429 or 5xx, with backoff
    redact_patterns = ["Acme Corp", 'db\\d+\\.corp\\.example']   # regexes, case-insensitive
    framework = "leadership-principles"   # or "engineering-ladder", or the path of a TOML file
    local_only = false               # true: refuse any model that is not served on this machine

How a project is written. The tool computes the facts (``facts.project_facts``) and renders the system
rubric and the project prompt (``prompting.py``); every string from the evidence is redacted first
(``redact.py``), passages that address an AI model ("ignore previous instructions …") are cut out, the
rest of the quoted text goes in fenced data blocks, and the evidence is trimmed to ``token_budget``
(tickets and metrics first, then items with descriptions, then the largest). The reply is asked for as
JSON ``{statement, evidence_ids, competencies}``: through ``response_format`` with a JSON schema where
``litellm.supports_response_schema(model)``, else ``{"type": "json_object"}``, and parsed defensively
(code fences and prose around the object are ignored). A reply that is not that object gets one retry
quoting the parse error; a statement the verifier rejects gets one retry listing the violations (so at
most 3 asks per project); a project that still fails, or whose calls fail, gets the offline
statement, marked not verified, with the reason in ``problems``. Besides the verifier, a statement must
cite at least one evidence id, must not repeat a ``[REDACTED:…]`` marker, and must not use a number that
appears only in a passage addressed to an AI model (a prompt injection). Competencies not in the
framework are dropped (and listed in problems).

Calls: litellm's own retries are off (``num_retries=0``, and ``max_retries=0`` for the OpenAI SDK,
which otherwise retries twice, turning a timeout T into about 3T); this module retries 429 and 5xx up to
``max_retries`` times with exponential backoff (1 s, 2 s, …, honouring ``Retry-After``, in seconds or as an
HTTP-date, up to 30 s; :mod:`impact_miner.http_policy` reads it).
Authentication, permission and model-not-found errors stop further calls for the run. Every successful
reply is cached in the ``llm`` namespace of the local cache, keyed by model, api_base, prompt version and
a hash of the exact redacted messages, so an identical rerun makes no call (``--refresh`` bypasses).

litellm is imported only here, only when a model is used, with ``LITELLM_LOCAL_MODEL_COST_MAP=True``
set first (no price-map download), its Hugging Face tokenizer downloads turned off (token counts use
its bundled tiktoken ``cl100k_base``: exact for OpenAI models, an estimate for others), and its
"Give Feedback" banner suppressed.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from impact_miner.errors import UsageError
from impact_miner.http_policy import Retry, backoff, call_with_retries, retry_after
from impact_miner.model import Evidence, Project

if TYPE_CHECKING:
    from impact_miner.cache import Cache
    from impact_miner.facts import Facts
    from impact_miner.prompting import Framework
    from impact_miner.redact import Redactor

CACHE_NAMESPACE = "llm"
OFFLINE_MODEL = "offline"
LOCAL_PROVIDERS = ("ollama", "ollama_chat")
BODY_CHARS = 1500
TEXT_CHARS = 300
EXTRA_ITEMS = 10
BACKOFF_BASE_SECONDS = 1.0
BACKOFF_CAP_SECONDS = 20.0
RETRY_AFTER_LIMIT_SECONDS = 30.0
NO_KEY = "no-key-required"  # OpenAI-compatible local servers need *a* key string, not a real one
# Text that addresses an AI model rather than describing the work: a prompt-injection attempt.
INJECTION = re.compile(
    r"\b(?:ignore|disregard|forget|override)\b[^\n]{0,40}?\b(?:previous|prior|above|earlier|all|any|your|system)\b"
    r"[^\n]{0,20}?\b(?:instructions?|prompts?|rules|directions|guidelines)\b"
    r"|\byou are now\b|\bnew instructions\s*:"
    r"|\b(?:dear|attention|note to(?: the)?)\s+(?:ai|llm|model|assistant|chatgpt|gpt|claude|copilot)\b",
    re.I,
)
REMOVED = "[text addressed to an AI model removed]"
NUMBER = re.compile(r"(?<![\w.])(\d{1,3}(?:,\d{3})+(?!\d)(?:\.\d+)?|\d+(?:\.\d+)*)")
JSON_FENCE = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.S)

Message = dict[str, str]
CallModel = Callable[..., Any]


@dataclass(frozen=True)
class LLMOptions:
    """How to reach the model and how to write with it (see the module docstring)."""

    model: str
    api_base: str | None = None
    api_key: str | None = field(default=None, repr=False)
    timeout: float = 60.0
    concurrency: int = 4
    token_budget: int = 3000
    max_retries: int = 2
    redact_patterns: tuple[str, ...] = ()
    framework: str = "leadership-principles"
    local_only: bool = False
    summary: Callable[[str], None] | None = field(default=None, compare=False, repr=False)


@dataclass
class Prompt:
    """What would be sent for one project, and what is needed to read the reply."""

    project_id: str
    messages: list[Message]
    id_map: dict[str, str]
    shown: int
    omitted: int
    evidence_tokens: int
    tainted_numbers: frozenset[str] = frozenset()


@dataclass
class RunSummary:
    """What the model calls of one run cost. ``cost`` is ``None`` when some reply had no known price."""

    model: str
    calls: int = 0
    cache_hits: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float | None = 0.0
    projects: int = 0
    fallbacks: int = 0
    redactions: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add_call(self, prompt_tokens: int, completion_tokens: int, cost: float | None) -> None:
        with self._lock:
            self.calls += 1
            self.prompt_tokens += prompt_tokens
            self.completion_tokens += completion_tokens
            self.cost = None if cost is None or self.cost is None else self.cost + cost

    def add_failed_call(self) -> None:
        with self._lock:
            self.calls += 1

    def add_hit(self) -> None:
        with self._lock:
            self.cache_hits += 1

    def line(self) -> str:
        """``llm openai/any: 7 calls, 9,120 tokens in / 410 out, cost $0.0021, 0 cache hits, ...``"""
        if self.cost is None:
            cost = "cost unknown (no price in litellm's cost map)"
        elif self.cost == 0:
            cost = "cost $0"
        else:
            cost = f"cost ${self.cost:.4f}"
        redacted = sum(self.redactions.values())
        parts = [
            f"{self.calls} call{'s' if self.calls != 1 else ''}",
            f"{self.prompt_tokens:,} tokens in / {self.completion_tokens:,} out",
            cost,
            f"{self.cache_hits} cache hit{'s' if self.cache_hits != 1 else ''}",
            f"{self.projects - self.fallbacks} of {self.projects} statements by the model",
        ]
        if redacted:
            parts.append(f"{redacted} secret{'s' if redacted != 1 else ''} redacted")
        return f"llm {self.model}: " + ", ".join(parts)


class ModelCallError(Exception):
    """A call that failed for good; the message is the one-line reason shown in problems."""


class ReplyFormatError(ValueError):
    """A reply that is not the JSON object asked for."""


@dataclass(frozen=True)
class Reply:
    statement: str
    evidence_ids: list[str]
    competencies: list[str]


# ---------------------------------------------------------------------------------------------- options


def is_offline(model: str | None) -> bool:
    return not model or model.strip().lower() == OFFLINE_MODEL


def check_local(model: str, api_base: str | None, env: Mapping[str, str]) -> None:
    """Raise UsageError unless ``model`` is served on this machine (ollama, or a loopback api_base)."""
    if is_local_model(model, api_base, env):
        return
    where = f" at {api_base}" if api_base else ""
    raise UsageError(
        f"--local-only: model {model!r}{where} is not served on this machine; use an ollama/... model or "
        "an api_base on localhost, 127.0.0.1 or ::1 (e.g. --api-base http://127.0.0.1:11434/v1), "
        "or drop --local-only"
    )


def is_local_model(model: str, api_base: str | None, env: Mapping[str, str]) -> bool:
    """Whether calls for ``model`` stay on this machine."""
    provider = model.split("/", 1)[0].lower() if "/" in model else ""
    if api_base:
        return is_loopback_url(api_base)
    if provider in LOCAL_PROVIDERS:
        return is_loopback_url(env.get("OLLAMA_API_BASE") or "http://localhost:11434")
    return False


def is_loopback_url(url: str) -> bool:
    host = (urlsplit(url if "//" in url else f"//{url}").hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# ---------------------------------------------------------------------------------------------- prompts


def build_prompt(
    project: Project,
    items: Sequence[Evidence],
    facts: Facts,
    framework: Framework,
    redactor: Redactor,
    *,
    token_budget: int,
    count_tokens: Callable[[str], int],
) -> Prompt:
    """The redacted system and user messages for ``project``, its evidence trimmed to ``token_budget``."""
    from impact_miner.prompting import PROJECT_TEMPLATE, SYSTEM_TEMPLATE, json_block, render

    keep = _keep_strings(items)
    id_map: dict[str, str] = {}
    candidates = []
    for item in items:
        shown_id = redactor.redact(item.id, keep)
        id_map[shown_id] = item.id
        entry = _entry(item, shown_id, redactor, keep)
        body = _clean_body(item.body)
        block = {"id": shown_id, "text": redactor.redact(body, keep)} if body else None
        candidates.append((item, entry, block))
    ranked = sorted(candidates, key=lambda c: _informative(c[0]))
    used, chosen, with_body = 0, set(), set()
    for item, entry, block in ranked:
        entry_cost = count_tokens(json.dumps(entry, ensure_ascii=False))
        body_cost = count_tokens(block["text"]) if block else 0
        if used + entry_cost + body_cost <= token_budget and block:
            used += entry_cost + body_cost
            chosen.add(item.id)
            with_body.add(item.id)
        elif used + entry_cost <= token_budget or not chosen:
            used += entry_cost
            chosen.add(item.id)
    shown = [(item, entry, block) for item, entry, block in candidates if item.id in chosen]
    shown.sort(key=lambda c: (c[0].completed_at, c[0].id))
    evidence_json = json_block([entry for _, entry, _ in shown])
    blocks = [block for item, _, block in shown if block and item.id in with_body]
    user = render(
        PROJECT_TEMPLATE,
        project_title=redactor.redact(_neutralize(project.title), keep),
        facts_json=json_block(_facts_block(project, facts, redactor, keep)),
        evidence_json=evidence_json,
        data_blocks=blocks,
        omitted=len(items) - len(shown),
        framework_name=framework.name,
    )
    system = render(SYSTEM_TEMPLATE, framework=framework)
    return Prompt(
        project_id=project.id,
        messages=[{"role": "system", "content": system}, {"role": "user", "content": user}],
        id_map=id_map,
        shown=len(shown),
        omitted=len(items) - len(shown),
        evidence_tokens=used,
        tainted_numbers=_tainted_numbers(items, facts, json.dumps(project.metrics, default=str)),
    )


def _facts_block(project: Project, facts: Facts, redactor: Redactor, keep: Sequence[str]) -> dict[str, Any]:
    """The computed facts (their strings, such as the parts' titles, redacted like the evidence), plus the
    metrics (before/after, deltas) attached to the project, if any."""
    block: dict[str, Any] = _redacted(dict(facts), redactor, keep)
    if project.metrics:
        block["metrics"] = _redacted(project.metrics, redactor, keep)
    return block


def _redacted(value: Any, redactor: Redactor, keep: Sequence[str]) -> Any:
    """``value`` (JSON-like) with every string redacted."""
    if isinstance(value, str):
        return redactor.redact(_neutralize(value), keep)
    if isinstance(value, dict):
        return {str(k): _redacted(v, redactor, keep) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redacted(v, redactor, keep) for v in value]
    return value


def _entry(item: Evidence, shown_id: str, redactor: Redactor, keep: Sequence[str]) -> dict[str, Any]:
    def clean(text: str, limit: int = TEXT_CHARS) -> str:
        return redactor.redact(_neutralize(_clip(text, limit)), keep)

    entry: dict[str, Any] = {
        "id": shown_id,
        "kind": item.kind,
        "source": item.source,
        "repo": clean(item.repo),
        "date": item.completed_at.date().isoformat(),
        "title": clean(item.title),
        "url": redactor.redact(item.url, keep),
    }
    if item.refs:
        entry["refs"] = [clean(r) for r in item.refs[:EXTRA_ITEMS]]
    if item.labels:
        entry["labels"] = [clean(label) for label in item.labels[:EXTRA_ITEMS]]
    size = {k: v for k, v in (("additions", item.additions), ("deletions", item.deletions)) if v is not None}
    if item.files is not None:
        size["files"] = item.files
    if size:
        entry["size"] = size
    extra: dict[str, Any] = {}
    for key, value in item.extra.items():
        if isinstance(value, bool | int | float):
            extra[key] = value
        elif isinstance(value, str) and value:
            extra[key] = clean(value)
        elif isinstance(value, list) and value and all(isinstance(v, str | int | float) for v in value):
            extra[key] = [clean(str(v)) if isinstance(v, str) else v for v in value[:EXTRA_ITEMS]]
    if extra:
        entry["extra"] = extra
    return entry


def _keep_strings(items: Sequence[Evidence]) -> list[str]:
    """Strings the high-entropy detector must leave alone: ids, urls and commit shas of the evidence."""
    keep = []
    for item in items:
        keep += [item.id, item.url, str(item.extra.get("sha") or "")]
        if "@" in item.id:
            keep.append(item.id.rsplit("@", 1)[1])
    return [k for k in keep if k]


def _informative(item: Evidence) -> tuple[int, int, int, int, str]:
    """Sort key, most informative first: tickets and metrics, pull requests, then items with a body,
    then the largest."""
    kind_rank = {"ticket": 0, "metric": 0, "pull_request": 1}.get(item.kind, 2)
    lines = (item.additions or 0) + (item.deletions or 0)
    return kind_rank, 0 if item.body.strip() else 1, -lines, -(item.files or 0), item.id


def _clean_body(body: str) -> str:
    return _clip(_neutralize(body.strip()), BODY_CHARS)


def _clip(text: str, limit: int) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _passages(text: str) -> list[str]:
    return re.split(r"\n\s*\n", text)


def _neutralize(text: str) -> str:
    """``text`` with every paragraph that addresses an AI model replaced by a marker."""
    if not INJECTION.search(text):
        return text
    return "\n\n".join(REMOVED if INJECTION.search(p) else p for p in _passages(text))


def _tainted_numbers(items: Sequence[Evidence], facts: Facts, computed: str = "") -> frozenset[str]:
    """Numbers that appear in the evidence only inside passages addressed to an AI model (not in the
    facts, the ``computed`` text such as the metrics, or any other passage)."""
    tainted: set[str] = set()
    clean: set[str] = {str(v) for v in facts.values()}
    clean.update(n.replace(",", "") for n in NUMBER.findall(computed))
    for item in items:
        for text in (item.title, item.body, *item.labels):
            for passage in _passages(text):
                target = tainted if INJECTION.search(passage) else clean
                target.update(n.replace(",", "") for n in NUMBER.findall(passage))
        clean.update(str(v) for v in item.extra.values() if isinstance(v, int | float))
    return frozenset(tainted - clean)


# ---------------------------------------------------------------------------------------------- replies


def parse_reply(text: str) -> Reply:
    """The ``{statement, evidence_ids, competencies}`` object in a reply; fences and prose are ignored."""
    data = _first_json_object(text)
    statement = data.get("statement")
    if not isinstance(statement, str) or not statement.strip():
        raise ReplyFormatError('the JSON object has no non-empty string "statement"')
    ids = data.get("evidence_ids", [])
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise ReplyFormatError('"evidence_ids" must be a list of strings')
    competencies = data.get("competencies", [])
    if competencies is None:
        competencies = []
    if isinstance(competencies, str):
        competencies = [competencies]
    if not isinstance(competencies, list) or not all(isinstance(c, str) for c in competencies):
        raise ReplyFormatError('"competencies" must be a list of strings')
    return Reply(" ".join(statement.split()), list(dict.fromkeys(ids)), competencies)


def _first_json_object(text: str) -> dict[str, Any]:
    candidates = [m.group(1) for m in JSON_FENCE.finditer(text)] + [text]
    decoder = json.JSONDecoder()
    for candidate in candidates:
        for match in re.finditer(r"\{", candidate):
            try:
                value, _ = decoder.raw_decode(candidate, match.start())
            except json.JSONDecodeError:
                continue
            if isinstance(value, dict):
                return value
    snippet = " ".join(text.split())[:80]
    raise ReplyFormatError(f"no JSON object found in the reply (it began: {snippet!r})")


def check_reply(
    reply: Reply, prompt: Prompt, project: Project, items: Sequence[Evidence], facts: Facts
) -> tuple[list[str], list[str]]:
    """(cited ids mapped back to real ids, problems that reject the statement)."""
    from impact_miner.verifier import verify_statement

    cited = [prompt.id_map.get(i, i) for i in reply.evidence_ids]
    problems = verify_statement(reply.statement, cited, project, items, facts)
    if not cited:
        problems.append("evidence_ids is empty: cite the ids of the evidence the statement rests on")
    if "[REDACTED" in reply.statement:
        problems.append("statement repeats a [REDACTED:...] marker; describe the work without it")
    injected = [n for n in NUMBER.findall(reply.statement) if n.replace(",", "") in prompt.tainted_numbers]
    problems += [
        f"number comes only from text addressed to an AI model (a prompt injection), not from the work: {n}"
        for n in dict.fromkeys(injected)
    ]
    return cited, list(dict.fromkeys(problems))


def pick_competencies(names: Sequence[str], framework: Framework) -> tuple[list[str], list[str]]:
    """(the framework's names among ``names``, at most its limit; problems for the ones dropped)."""
    kept: list[str] = []
    problems = []
    for name in names:
        canonical = framework.canonical(name)
        if canonical is None:
            problems.append(f"competency not in {framework.name}, dropped: {name}")
        elif canonical not in kept:
            kept.append(canonical)
    if len(kept) > framework.max_per_statement:
        dropped = kept[framework.max_per_statement :]
        limit = framework.max_per_statement
        problems.append(f"more than {limit} competencies; dropped: {', '.join(dropped)}")
        kept = kept[: framework.max_per_statement]
    return kept, problems


# ---------------------------------------------------------------------------------------------- calls


@dataclass
class _Completion:
    content: str
    prompt_tokens: int
    completion_tokens: int
    cost: float | None


class ModelClient:
    """Calls the model for one run: cache first, then litellm with our own bounded retries."""

    def __init__(
        self,
        options: LLMOptions,
        prompt_version: str,
        framework: Framework,
        summary: RunSummary,
        *,
        cache: Cache | None = None,
        call_model: CallModel | None = None,
        sleep: Callable[[float], None] = time.sleep,
        env: Mapping[str, str] | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.options = options
        self.prompt_version = prompt_version
        self.summary = summary
        self.cache = cache
        self.sleep = sleep
        self.clock = clock or _wall_clock  # what an HTTP-date Retry-After is counted from
        self._litellm = import_litellm()
        self._call = call_model or self._litellm.completion
        self._fatal: str | None = None
        self._lock = threading.Lock()
        self.api_key = options.api_key or self._placeholder_key(env if env is not None else os.environ)
        self.response_format: dict[str, Any] | None = response_format_for(
            self._litellm, options.model, framework
        )

    def complete(self, messages: list[Message]) -> _Completion:
        """One reply to ``messages`` (from the cache when stored); raises ModelCallError with a reason."""
        key = self._cache_key(messages)
        if self.cache is not None:
            hit = self.cache.get(CACHE_NAMESPACE, key)
            if isinstance(hit, dict) and isinstance(hit.get("content"), str):
                self.summary.add_hit()
                return _Completion(hit["content"], 0, 0, 0.0)
        completion = self._call_with_retries(messages)
        if self.cache is not None:
            self.cache.put(CACHE_NAMESPACE, key, {"content": completion.content})
        return completion

    def _call_with_retries(self, messages: list[Message]) -> _Completion:
        return call_with_retries(lambda: self._ask(messages), self._plan(), sleep=self.sleep)

    def _ask(self, messages: list[Message]) -> _Completion:
        """One completion; a server that refuses ``response_format`` is asked again at once without it."""
        lit = self._litellm
        while True:
            with self._lock:
                if self._fatal:
                    raise ModelCallError(self._fatal)
            params = self._params(messages)
            try:
                response = self._call(**params)
            except Exception as exc:
                self.summary.add_failed_call()
                if (
                    isinstance(exc, lit.BadRequestError)
                    and "response_format" in params
                    and re.search(r"response_format|json_object|json_schema", str(exc), re.I)
                ):
                    with self._lock:
                        self.response_format = None  # the server refuses it: parse plain replies
                    continue
                raise
            content = _content(response)
            usage = getattr(response, "usage", None)
            prompt_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
            completion_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
            self.summary.add_call(prompt_tokens, completion_tokens, self._cost(response))
            return _Completion(content, prompt_tokens, completion_tokens, None)

    def _plan(self) -> Callable[[Exception], Retry | None]:
        """429, 5xx and lost connections: up to ``max_retries`` more attempts; anything else ends the call."""
        lit = self._litellm
        retries = 0

        def plan(exc: Exception) -> Retry | None:
            nonlocal retries
            if isinstance(exc, ModelCallError):
                return None
            status = getattr(exc, "status_code", None)
            if isinstance(exc, lit.Timeout):
                raise ModelCallError(f"no reply within {self.options.timeout:g} s (timeout)")
            if isinstance(exc, lit.AuthenticationError | lit.PermissionDeniedError | lit.NotFoundError):
                reason = _fatal_reason(exc, self.options.model)
                with self._lock:
                    self._fatal = reason
                raise ModelCallError(reason)
            retryable = isinstance(exc, lit.RateLimitError | lit.APIConnectionError) or (
                isinstance(status, int) and status >= 500
            )
            if not retryable:
                raise ModelCallError(_describe(exc))
            wait = _backoff(exc, retries, self.clock())
            if retries >= self.options.max_retries or wait is None:
                tries = f"{retries + 1} attempt{'s' if retries else ''}"
                raise ModelCallError(f"{_describe(exc)} after {tries}")
            retries += 1
            return Retry(wait)

        return plan

    def _params(self, messages: list[Message]) -> dict[str, Any]:
        params: dict[str, Any] = {
            "model": self.options.model,
            "messages": messages,
            "timeout": self.options.timeout,
            "temperature": 0,
            "num_retries": 0,
            "max_retries": 0,
            "drop_params": True,
        }
        if self.options.api_base:
            params["api_base"] = self.options.api_base
        if self.api_key:
            params["api_key"] = self.api_key
        if self.response_format is not None:
            params["response_format"] = self.response_format
        return params

    def _cache_key(self, messages: list[Message]) -> dict[str, Any]:
        digest = hashlib.sha256(json.dumps(messages, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
        return {
            "model": self.options.model,
            "api_base": self.options.api_base or "",
            "prompt_version": self.prompt_version,
            "messages_sha256": digest,
        }

    def _cost(self, response: Any) -> float | None:
        try:
            return float(self._litellm.completion_cost(completion_response=response))
        except Exception:
            return 0.0 if is_local_model(self.options.model, self.options.api_base, os.environ) else None

    def _placeholder_key(self, env: Mapping[str, str]) -> str | None:
        """A dummy key for a keyless OpenAI-compatible server at ``api_base``; otherwise litellm's own
        environment lookup, and a one-line error naming the variable when the provider's key is missing."""
        lit = self._litellm
        try:
            lit.get_llm_provider(self.options.model, api_base=self.options.api_base)
        except Exception:
            raise UsageError(
                f"model {self.options.model!r}: litellm cannot tell its provider; prefix it, e.g. "
                "openai/NAME, anthropic/NAME, ollama/NAME (see https://docs.litellm.ai/docs/providers)"
            ) from None
        missing = lit.validate_environment(self.options.model, api_base=self.options.api_base)["missing_keys"]
        missing = [m for m in missing if m not in env and not m.endswith("_API_BASE")]
        if not missing:
            return None
        if self.options.api_base:
            return NO_KEY
        raise UsageError(
            f"model {self.options.model!r} needs {' and '.join(missing)}: export it, or set [llm] api_key "
            f'(e.g. api_key = "env:{missing[0]}")'
        )


def import_litellm() -> Any:
    """litellm, imported on first use with no network at import time and no banners on stdout."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.suppress_debug_info = True
    litellm.disable_hf_tokenizer_download = True
    return litellm


def token_counter(model: str) -> Callable[[str], int]:
    """Tokens of a text as litellm counts them for ``model`` (bundled tiktoken cl100k_base, offline)."""
    litellm = import_litellm()
    return lambda text: int(litellm.token_counter(model=model, text=text)) if text else 0


def _content(response: Any) -> str:
    try:
        content = response.choices[0].message.content
    except (AttributeError, IndexError, KeyError, TypeError):
        return ""
    return content if isinstance(content, str) else ""


def _backoff(exc: Exception, retries: int, now: datetime) -> float | None:
    """Seconds to wait before the next attempt; ``None`` when the server asks for longer than we wait."""
    headers = getattr(getattr(exc, "response", None), "headers", None)
    asked = retry_after(headers, now) if isinstance(headers, Mapping) else None
    if asked is not None:
        return None if asked > RETRY_AFTER_LIMIT_SECONDS else asked
    return backoff(retries + 1, first=BACKOFF_BASE_SECONDS, cap=BACKOFF_CAP_SECONDS)


def _wall_clock() -> datetime:
    return datetime.now(UTC)


def _describe(exc: Exception) -> str:
    """A one-line reason for a failed call, without the provider's multi-line details."""
    status = getattr(exc, "status_code", None)
    name = type(exc).__name__
    labels = {
        "RateLimitError": "rate limited",
        "ServiceUnavailableError": "service unavailable",
        "InternalServerError": "server error",
        "BadGatewayError": "bad gateway",
        "APIConnectionError": "cannot connect",
        "ContextWindowExceededError": "prompt too long for the model (lower [llm] token_budget)",
        "ContentPolicyViolationError": "refused by the provider's content policy",
        "BadRequestError": "request rejected",
    }
    label = labels.get(name, name)
    detail = str(getattr(exc, "message", "") or exc).splitlines()[0] if str(exc) else ""
    detail = re.sub(r"^(?:litellm\.)?\w+: (?:\w+: )?(?:OpenAIException - )?", "", detail)[:160]
    prefix = f"{label} (HTTP {status})" if isinstance(status, int) else label
    return f"{prefix}: {detail}" if detail and detail.lower() not in prefix.lower() else prefix


def _fatal_reason(exc: Exception, model: str) -> str:
    name = type(exc).__name__
    if name == "AuthenticationError":
        return f"authentication failed for {model}: check [llm] api_key or the provider's API key variable"
    if name == "NotFoundError":
        return f"model {model} not found at the provider (check the name and api_base)"
    return f"permission denied for {model}: {_describe(exc)}"


def _schema(framework: Framework) -> dict[str, Any]:
    from impact_miner.prompting import response_schema

    return response_schema(framework)


# ---------------------------------------------------------------------------------------------- writing


def write_with_model(
    projects: Sequence[Project],
    evidence: Sequence[Evidence],
    options: LLMOptions,
    *,
    cache: Cache | None = None,
    call_model: CallModel | None = None,
    sleep: Callable[[float], None] = time.sleep,
    progress: Callable[[str], None] | None = None,
    env: Mapping[str, str] | None = None,
    clock: Callable[[], datetime] | None = None,
) -> tuple[list[Project], RunSummary]:
    """Write every project's statement with the model, in parallel; fall back to the statement the
    project already carries (the offline one) for any project the model cannot do.

    ``projects`` come from the offline writer; each keeps its statement as the fallback. The run never
    raises because of the model (only for bad configuration, as UsageError/ConfigError). ``sleep`` (retry
    waits) and ``clock`` (what an HTTP-date ``Retry-After`` is counted from; the wall clock by default) are
    injectable so tests take no time.
    """
    from impact_miner.prompting import load_framework, prompt_version
    from impact_miner.redact import Redactor

    framework = load_framework(options.framework)
    version = prompt_version(framework)
    summary = RunSummary(model=options.model, projects=len(projects))
    if not projects:
        return [], summary
    client = ModelClient(
        options,
        version,
        framework,
        summary,
        cache=cache,
        call_model=call_model,
        sleep=sleep,
        env=env,
        clock=clock,
    )
    redactor = Redactor(options.redact_patterns)
    jobs = _jobs(projects, evidence, options, framework, redactor, token_counter(options.model))
    summary.redactions = dict(redactor.counts)
    workers = max(1, min(options.concurrency, len(jobs)))
    if progress:
        progress(f"writing {len(jobs)} statements with {options.model} ({workers} at a time)")

    def write(job: tuple[Project, list[Evidence], Facts, Prompt]) -> Project:
        project, items, facts, prompt = job
        try:
            return _converse(client, framework, project, items, facts, prompt)
        except ModelCallError as exc:
            return _fallback(project, options.model, str(exc))
        except Exception as exc:  # the run never aborts because of the model
            return _fallback(project, options.model, f"internal error: {type(exc).__name__}: {exc}")

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="llm") as pool:
        written = list(pool.map(write, jobs))
    summary.fallbacks = sum(1 for p in written if not p.verified)
    if options.summary:
        options.summary(summary.line())
    return written, summary


def _converse(
    client: ModelClient,
    framework: Framework,
    project: Project,
    items: Sequence[Evidence],
    facts: Facts,
    prompt: Prompt,
) -> Project:
    """Ask, check, and retry at most once per kind of failure; the model's statement or the fallback."""
    from impact_miner.prompting import RETRY_PARSE_TEMPLATE, RETRY_VERIFY_TEMPLATE, render

    messages = list(prompt.messages)
    parse_retried = verify_retried = False
    while True:
        completion = client.complete(messages)
        try:
            reply = parse_reply(completion.content)
        except ReplyFormatError as exc:
            if parse_retried:
                reason = f"reply was not the JSON asked for, twice: {exc}"
                return _fallback(project, client.options.model, reason)
            parse_retried = True
            retry = render(RETRY_PARSE_TEMPLATE, error=str(exc))
            messages += _exchange(completion.content, retry)
            continue
        _, problems = check_reply(reply, prompt, project, items, facts)
        if problems:
            if verify_retried:
                reason = "statement rejected by the verifier after one retry"
                return _fallback(project, client.options.model, reason, [f"model: {p}" for p in problems])
            verify_retried = True
            retry = render(RETRY_VERIFY_TEMPLATE, problems=problems)
            messages += _exchange(completion.content, retry)
            continue
        competencies, notes = pick_competencies(reply.competencies, framework)
        return replace(
            project, statement=reply.statement, competencies=competencies, verified=True, problems=notes
        )


def _exchange(reply: str, answer: str) -> list[Message]:
    """The model's rejected reply and our answer to it, appended to the conversation for the retry."""
    return [{"role": "assistant", "content": reply}, {"role": "user", "content": answer}]


def _fallback(project: Project, model: str, reason: str, details: Sequence[str] = ()) -> Project:
    """The project's offline statement, never marked verified, with why the model's was not used."""
    problems = [
        f"{model} could not write this statement ({reason}); showing the offline statement",
        *details,
        *project.problems,
    ]
    return replace(project, verified=False, problems=problems)


def response_format_for(litellm: Any, model: str, framework: Framework) -> dict[str, Any]:
    """The reply schema as ``response_format``: a JSON schema where the model honours one, else JSON mode."""
    if litellm.supports_response_schema(model=model):
        schema = {"name": "impact_statement", "schema": _schema(framework)}
        return {"type": "json_schema", "json_schema": schema}
    return {"type": "json_object"}


def _jobs(
    projects: Sequence[Project],
    evidence: Sequence[Evidence],
    options: LLMOptions,
    framework: Framework,
    redactor: Redactor,
    count_tokens: Callable[[str], int],
) -> list[tuple[Project, list[Evidence], Facts, Prompt]]:
    """Each project with its evidence, facts and redacted prompt, as the model would get them."""
    from impact_miner.facts import project_facts

    by_id = {item.id: item for item in evidence}
    jobs = []
    for project in projects:
        items = [by_id[i] for i in project.evidence_ids if i in by_id]
        facts = project_facts(project, items)
        prompt = build_prompt(
            project, items, facts, framework, redactor, token_budget=options.token_budget,
            count_tokens=count_tokens,
        )  # fmt: skip
        jobs.append((project, items, facts, prompt))
    return jobs


def prompt_requests(
    projects: Sequence[Project], evidence: Sequence[Evidence], options: LLMOptions
) -> list[dict[str, Any]]:
    """What ``write_with_model`` would send for each project (redacted messages and call settings), without
    sending anything: ``--dry-run --show-prompt``."""
    from impact_miner.prompting import load_framework, prompt_version
    from impact_miner.redact import Redactor

    framework = load_framework(options.framework)
    version = prompt_version(framework)
    response_format = response_format_for(import_litellm(), options.model, framework)
    count = token_counter(options.model)
    requests = []
    for project, _items, _facts, prompt in _jobs(
        projects, evidence, options, framework, Redactor(options.redact_patterns), count
    ):
        requests.append(
            {
                "project": project.id,
                "model": options.model,
                "api_base": options.api_base,
                "prompt_version": version,
                "response_format": response_format,
                "evidence_shown": prompt.shown,
                "evidence_omitted": prompt.omitted,
                "evidence_tokens": prompt.evidence_tokens,
                "prompt_tokens": sum(count(m["content"]) for m in prompt.messages),
                "messages": prompt.messages,
            }
        )
    return requests


def format_prompt_requests(requests: Sequence[Mapping[str, Any]]) -> str:
    """The requests as text a person reads: a header per project, then each message verbatim."""
    out = []
    for number, request in enumerate(requests, 1):
        where = f" at {request['api_base']}" if request["api_base"] else ""
        out.append(
            f"=== {number}/{len(requests)} {request['project']} → {request['model']}{where}: "
            f"{request['prompt_tokens']} prompt tokens, {request['evidence_shown']} evidence items shown, "
            f"{request['evidence_omitted']} omitted, response_format {request['response_format']['type']}, "
            f"prompt {request['prompt_version']} ==="
        )
        for message in request["messages"]:
            out += [f"--- {message['role']} ---", message["content"].rstrip("\n")]
        out.append("")
    return "\n".join(out) + ("\n" if out else "No projects in range: nothing would be sent.\n")
