"""The TOML config file: who the person is, and one ``[sources.NAME]`` table per source instance.

Where it lives: ``--config PATH``, else ``$IMPACT_MINER_CONFIG``, else ``config.toml`` in the platform
config directory (``platformdirs.user_config_dir("impact-miner")``). No file is fine: the defaults
mine the current git repository as its ``user.email``.

Secrets never need to be written in plain text: any string value of a source section may be
``env:NAME`` (an environment variable), ``cmd:COMMAND`` (the first line a shell command prints) or
``file:PATH`` (a file's contents, stripped). Plain values work, with a warning when the file is
readable by other users.

An optional ``[llm]`` table configures the model writer (reference: ``llm_writer.py``); its ``api_key``
and ``api_base`` may be secret references too.

Unknown keys are errors (exit 2) that name the key and the closest known one: a misspelt key
(``include_merge``, ``enable``) would otherwise silently change what runs. The top-level tables, ``[me]``
and ``[llm]`` are checked here; each ``[sources.NAME]`` against the keys its connector declares
(:func:`impact_miner.registry.check_options`); ``[team.limits.NAME]`` by ``team.read_limits``.
"""

from __future__ import annotations

import difflib
import os
import signal
import stat
import subprocess
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from impact_miner.errors import ConfigError
from impact_miner.model import Person, SourceSection

ENV_VAR = "IMPACT_MINER_CONFIG"
SECRET_KEYS = frozenset({"token", "password", "api_key", "secret", "private_token", "api_token"})
SECRET_PREFIXES = ("env:", "cmd:", "file:")
COMMAND_TIMEOUT_SECONDS = 30
TOP_LEVEL_KEYS = frozenset({"me", "sources", "llm", "journal", "team"})
ME_KEYS = frozenset({"name", "emails", "names", "timezone", "logins"})
JOURNAL_KEYS = frozenset({"path"})  # read by journal.journal_path


@dataclass
class Config:
    """A loaded config: the person, their time zone, the source sections, and warnings to show."""

    path: Path | None
    person: Person = field(default_factory=Person)
    timezone: str | None = None
    sections: list[SourceSection] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    llm: dict[str, Any] = field(default_factory=dict)  # the validated [llm] table, secrets resolved


def default_config_path() -> Path:
    from platformdirs import user_config_dir

    return Path(user_config_dir("impact-miner")) / "config.toml"


def config_path(explicit: str | None, env: Mapping[str, str]) -> tuple[Path, bool]:
    """The config file to read and whether the user named it (a named file must exist)."""
    if explicit:
        return Path(explicit).expanduser(), True
    if env.get(ENV_VAR):
        return Path(env[ENV_VAR]).expanduser(), True
    return default_config_path(), False


def load_config(path: Path, *, required: bool, env: Mapping[str, str]) -> Config:
    """Read and validate the config at ``path``, resolving every secret reference."""
    if not path.exists():
        if required:
            raise ConfigError(
                f"config file {path} does not exist; create it with `mine init --config {path}`"
            )
        return Config(path=None)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"config {path}: invalid TOML: {exc}; fix the file or pass another --config"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config {path} cannot be read: {exc}") from None
    return parse_config(data, path=path, env=env, shared_with_others=_readable_by_others(path))


def parse_config(
    data: dict[str, Any], *, path: Path, env: Mapping[str, str], shared_with_others: bool = False
) -> Config:
    """Validate a parsed TOML document and resolve its secret references."""
    config = Config(path=path)
    check_keys(data, TOP_LEVEL_KEYS, "", path)
    me = _table(data.get("me", {}), "me", path)
    check_keys(me, ME_KEYS, "me", path)
    check_keys(_table(data.get("journal", {}), "journal", path), JOURNAL_KEYS, "journal", path)
    config.person = Person(
        name=_string(me.get("name", ""), "me.name", path),
        emails=_strings(me.get("emails", []), "me.emails", path),
        names=_strings(me.get("names", []), "me.names", path),
        logins={
            k: _string(v, f"me.logins.{k}", path)
            for k, v in _table(me.get("logins", {}), "me.logins", path).items()
        },
    )
    if me.get("timezone") is not None:
        config.timezone = _string(me["timezone"], "me.timezone", path)
    for name, raw in _table(data.get("sources", {}), "sources", path).items():
        where = f"sources.{name}"
        section = _table(raw, where, path)
        source_type = section.get("type")
        if not isinstance(source_type, str) or not source_type:
            raise ConfigError(f'config {path}: [{where}] needs a `type`, e.g. type = "git"')
        enabled = section.get("enabled", True)
        if not isinstance(enabled, bool):
            raise ConfigError(f"config {path}: {where}.enabled must be true or false, e.g. enabled = false")
        if not enabled:
            continue
        options: dict[str, Any] = {}
        for key, value in section.items():
            if key in ("type", "enabled"):
                continue
            if isinstance(value, str) and value.startswith(SECRET_PREFIXES):
                value = resolve_secret(value, f"{where}.{key}", env)
            elif key in SECRET_KEYS and isinstance(value, str) and shared_with_others:
                config.warnings.append(
                    f"config {path} holds a plain-text secret in {where}.{key} and is readable by other "
                    f"users; use env:/cmd:/file: instead, or run `chmod 600 {path}`"
                )
            options[key] = value
        config.sections.append(SourceSection(name=name, type=source_type, options=options))
    config.llm = _llm_table(data.get("llm", {}), path, env, config.warnings, shared_with_others)
    return config


# [llm] keys: (accepted types, what a valid value looks like)
LLM_KEYS: dict[str, tuple[tuple[type, ...], str]] = {
    "model": ((str,), 'a litellm model string, e.g. model = "openai/gpt-4o-mini"'),
    "api_base": ((str,), 'a URL, e.g. api_base = "http://127.0.0.1:11434/v1"'),
    "api_key": ((str,), 'a secret reference, e.g. api_key = "env:OPENAI_API_KEY"'),
    "timeout": ((int, float), "seconds per call, e.g. timeout = 60"),
    "concurrency": ((int,), "projects written at once, 1 to 64, e.g. concurrency = 4"),
    "token_budget": ((int,), "evidence tokens per project, at least 200, e.g. token_budget = 3000"),
    "max_retries": ((int,), "retries after a 429 or 5xx, 0 to 10, e.g. max_retries = 2"),
    "redact_patterns": ((list,), 'a list of regular expressions, e.g. redact_patterns = ["Acme Corp"]'),
    "framework": ((str,), 'framework = "leadership-principles", "engineering-ladder" or a file path'),
    "local_only": ((bool,), "true or false"),
}
LLM_RANGES: dict[str, tuple[float, float]] = {
    "timeout": (0.001, 3600),
    "concurrency": (1, 64),
    "token_budget": (200, 1_000_000),
    "max_retries": (0, 10),
}


def _llm_table(
    value: Any, path: Path, env: Mapping[str, str], warnings: list[str], shared_with_others: bool
) -> dict[str, Any]:
    """The ``[llm]`` table, type-checked, with ``api_key``/``api_base`` secret references resolved."""
    table = _table(value, "llm", path)
    llm: dict[str, Any] = {}
    for key, item in table.items():
        if key not in LLM_KEYS:
            raise ConfigError(f"config {path}: [llm] has no key `{key}`; {_suggestion(key, LLM_KEYS)}")
        types, example = LLM_KEYS[key]
        if not isinstance(item, types) or (isinstance(item, bool) and bool not in types):
            raise ConfigError(f"config {path}: [llm] {key} must be {example}")
        low, high = LLM_RANGES.get(key, (0.0, 0.0))
        if key in LLM_RANGES and not low <= cast(float, item) <= high:
            raise ConfigError(f"config {path}: [llm] {key} = {item} is out of range; use {example}")
        if key == "redact_patterns":
            item = _strings(item, "llm.redact_patterns", path)
        if isinstance(item, str) and key in ("api_key", "api_base") and item.startswith(SECRET_PREFIXES):
            item = resolve_secret(item, f"llm.{key}", env)
        elif key == "api_key" and shared_with_others:
            warnings.append(
                f"config {path} holds a plain-text secret in llm.api_key and is readable by other users; "
                f"use env:/cmd:/file: instead, or run `chmod 600 {path}`"
            )
        llm[key] = item
    return llm


def check_keys(table: Mapping[str, Any], known: Iterable[str], where: str, path: Path | None) -> None:
    """Refuse a key of ``table`` (at ``where``, e.g. ``sources.code``) that is not in ``known``."""
    names = frozenset(known)
    for key in table:
        if key not in names:
            raise ConfigError(unknown_key_message(key, names, where, path))


def unknown_key_message(key: str, known: Iterable[str], where: str, path: Path | None = None) -> str:
    """``unknown key `sources.code.include_merge`; did you mean `include_merges`?`` (or the known keys)."""
    full = f"{where}.{key}" if where else key
    prefix = f"config {path}: " if path is not None else ""
    return f"{prefix}unknown key `{full}`; {_suggestion(key, known)}"


def _suggestion(key: str, known: Iterable[str]) -> str:
    """``did you mean `x`?`` for the closest known key (ignoring case), else the list of known keys."""
    names = sorted(known)
    by_folded = {name.casefold(): name for name in names}
    close = difflib.get_close_matches(key.casefold(), list(by_folded), n=1, cutoff=0.6)
    if close:
        return f"did you mean `{by_folded[close[0]]}`?"
    return f"known keys: {', '.join(names)}"


def resolve_secret(value: str, where: str, env: Mapping[str, str]) -> str:
    """Resolve an ``env:``, ``cmd:`` or ``file:`` reference; the secret itself never appears in errors."""
    kind, _, target = value.partition(":")
    target = target.strip()
    if kind == "env":
        if not env.get(target):
            raise ConfigError(
                f"{where}: environment variable {target} is not set; export it or change {where}"
            )
        return env[target]
    if kind == "file":
        secret_file = Path(target).expanduser()
        try:
            return secret_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"{where}: cannot read {secret_file} ({exc.strerror}); fix the path") from None
    try:
        done = run_command(target, COMMAND_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        raise ConfigError(
            f"{where}: command {target!r} did not finish in {COMMAND_TIMEOUT_SECONDS:g} s and was stopped; "
            "make it answer without waiting for input, or use env: or file: instead"
        ) from None
    output = done.stdout.strip().splitlines()
    if done.returncode != 0 or not output:
        reason = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}, no output"])[0]
        raise ConfigError(f"{where}: command {target!r} failed: {reason}")
    return output[0]


def run_command(command: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """Run ``command`` in a shell, in a session of its own, and return its output.

    On a timeout (``TimeoutExpired``) or an interrupt the whole process group is killed, so nothing the
    command started (``sleep 100 &``, a pipeline, a subshell) is left running. The command keeps
    stdin but has no controlling terminal: it cannot open ``/dev/tty`` to prompt.
    """
    with subprocess.Popen(
        command,
        shell=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    ) as process:
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except BaseException:
            _kill_group(process)
            process.communicate()
            raise
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def _kill_group(process: subprocess.Popen[str]) -> None:
    """SIGKILL the process group ``process`` leads (its own session), or just it where groups are missing."""
    try:
        if hasattr(os, "killpg"):
            os.killpg(process.pid, signal.SIGKILL)
        else:  # pragma: no cover - Windows
            process.kill()
    except ProcessLookupError:
        pass


def write_starter_config(path: Path) -> None:
    """Write the commented starter config; never overwrite an existing file."""
    from importlib.resources import files

    if path.exists():
        raise ConfigError(f"{path} already exists; edit it, or pass --config with a new path")
    path.parent.mkdir(parents=True, exist_ok=True)
    text = files("impact_miner").joinpath("templates/starter-config.toml").read_text(encoding="utf-8")
    with open(path, "x", encoding="utf-8") as handle:
        handle.write(text)
    path.chmod(0o600)


def _readable_by_others(path: Path) -> bool:
    return os.name == "posix" and bool(path.stat().st_mode & (stat.S_IRGRP | stat.S_IROTH))


def _table(value: Any, where: str, path: Path) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"config {path}: `{where}` must be a table, e.g. [{where}]")
    return value


def _string(value: Any, where: str, path: Path) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"config {path}: `{where}` must be a string")
    return value


def _strings(value: Any, where: str, path: Path) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(
            f'config {path}: `{where}` must be a list of strings, e.g. {where.split(".")[-1]} = ["a"]'
        )
    return list(value)
