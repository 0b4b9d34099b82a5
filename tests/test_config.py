"""Config loading, secret references and validation."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from impact_miner.config import config_path, load_config, resolve_secret, write_starter_config
from impact_miner.errors import ConfigError


def write(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


def test_full_config_is_parsed(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[me]
name = "Ada"
emails = ["ada@acme.io"]
names = ["Ada Lovelace"]
timezone = "Europe/London"
[me.logins]
github = "ada"

[sources.code]
type = "git"
paths = ["~/src/*"]

[sources.off]
type = "git"
enabled = false
""",
    )
    config = load_config(path, required=True, env={})
    assert config.person.name == "Ada"
    assert config.person.emails == ["ada@acme.io"]
    assert config.person.names == ["Ada Lovelace"]
    assert config.person.logins == {"github": "ada"}
    assert config.timezone == "Europe/London"
    assert [(s.name, s.type, s.options) for s in config.sections] == [("code", "git", {"paths": ["~/src/*"]})]
    assert config.warnings == []


def test_secret_references_resolve(tmp_path: Path) -> None:
    secret_file = tmp_path / "token.txt"
    secret_file.write_text("from-file\n")
    path = write(
        tmp_path,
        f"""
[sources.a]
type = "x"
token = "env:MY_TOKEN"
[sources.b]
type = "x"
token = "cmd:printf 'from-cmd\\nsecond line'"
[sources.c]
type = "x"
token = "file:{secret_file}"
""",
    )
    config = load_config(path, required=True, env={"MY_TOKEN": "from-env"})
    assert [s.options["token"] for s in config.sections] == ["from-env", "from-cmd", "from-file"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("env:NOPE_NOT_SET", "environment variable NOPE_NOT_SET is not set"),
        ("cmd:exit 3", "failed"),
        ("cmd:echo oops >&2; exit 1", "oops"),
        ("file:/nonexistent/secret", "cannot read /nonexistent/secret"),
    ],
)
def test_unresolvable_secrets_are_clear_errors(value: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        resolve_secret(value, "sources.gh.token", env={})
    text = str(caught.value)
    assert message in text
    assert "sources.gh.token" in text
    assert "\n" not in text


def alive(pid: int) -> bool:
    """Whether process ``pid`` still runs (a zombie waiting for its reaper counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    except OSError:  # no /proc: ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    return state not in ("Z", "X")


@pytest.mark.parametrize(
    "shape", ["{sleep} & echo $! > {pids}; wait", "sh -c 'echo $$ > {pids}; exec {sleep}'; true"]
)
def test_a_command_that_times_out_is_killed_with_everything_it_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shape: str
) -> None:
    monkeypatch.setattr("impact_miner.config.COMMAND_TIMEOUT_SECONDS", 0.5)
    pids = tmp_path / "pids"
    command = shape.format(sleep="sleep 100", pids=pids)
    started = time.monotonic()
    with pytest.raises(ConfigError) as caught:
        resolve_secret(f"cmd:{command}", "sources.gh.token", env={})
    assert time.monotonic() - started < 10
    assert str(caught.value).startswith(
        f"sources.gh.token: command {command!r} did not finish in 0.5 s and was"
    )
    child = int(pids.read_text())
    deadline = time.monotonic() + 5
    while alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(child), f"the command's child {child} survived the timeout"


def test_plain_secret_in_world_readable_file_warns(tmp_path: Path) -> None:
    path = write(tmp_path, '[sources.gh]\ntype = "x"\ntoken = "ghp_plain"\n', mode=0o644)
    config = load_config(path, required=True, env={})
    assert config.sections[0].options["token"] == "ghp_plain"
    assert len(config.warnings) == 1
    assert "chmod 600" in config.warnings[0]
    assert "ghp_plain" not in config.warnings[0]


def test_plain_secret_in_private_file_is_quiet(tmp_path: Path) -> None:
    path = write(tmp_path, '[sources.gh]\ntype = "x"\ntoken = "ghp_plain"\n', mode=0o600)
    assert load_config(path, required=True, env={}).warnings == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[me\nname = 1", "invalid TOML"),
        ("me = 3", "`me` must be a table"),
        ('[me]\nemails = "a@b.c"', "`me.emails` must be a list of strings"),
        ("[sources.x]\npaths = []", "needs a `type`"),
        ('[sources]\nx = "git"', "`sources.x` must be a table"),
    ],
)
def test_malformed_config_is_a_clear_error(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text), required=True, env={})
    assert message in str(caught.value)
    assert str(tmp_path) in str(caught.value)


def test_missing_named_config_is_an_error_but_default_is_optional(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml", required=True, env={})
    assert load_config(tmp_path / "nope.toml", required=False, env={}).sections == []


def test_config_path_precedence(tmp_path: Path) -> None:
    assert config_path("/x/explicit.toml", {"IMPACT_MINER_CONFIG": "/y/env.toml"}) == (
        Path("/x/explicit.toml"),
        True,
    )
    assert config_path(None, {"IMPACT_MINER_CONFIG": "/y/env.toml"}) == (Path("/y/env.toml"), True)
    default, required = config_path(None, {})
    assert default.name == "config.toml" and "impact-miner" in str(default) and not required


def test_starter_config_is_valid_and_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "config.toml"
    write_starter_config(path)
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    config = load_config(path, required=True, env={})
    assert [s.type for s in config.sections] == ["git"]
    before = path.read_text()
    with pytest.raises(ConfigError, match="already exists"):
        write_starter_config(path)
    assert path.read_text() == before


# ---- unknown keys ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[soruces.code]\ntype = "git"\n', "unknown key `soruces`; did you mean `sources`?"),
        ('[me]\nemail = ["a@x.io"]\n', "unknown key `me.email`; did you mean `emails`?"),
        ('[me]\nnick = "ada"\n', "unknown key `me.nick`; known keys: emails, logins, name, names, timezone"),
        ('[journal]\npth = "j.db"\n', "unknown key `journal.pth`; did you mean `path`?"),
        ('[llm]\nmodel = "openai/x"\ntimeot = 5\n', "[llm] has no key `timeot`; did you mean `timeout`?"),
        ('[sources.code]\ntype = "git"\nenabled = "false"\n', "sources.code.enabled must be true or false"),
    ],
)
def test_unknown_config_keys_name_the_closest_known_one(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config(write(tmp_path, text), required=True, env={})
    assert message in str(raised.value)
    assert str(raised.value).startswith(f"config {tmp_path / 'config.toml'}: ")


@pytest.mark.parametrize(
    ("source", "key", "message"),
    [
        ("git", "include_merge", "unknown key `sources.s.include_merge`; did you mean `include_merges`?"),
        ("git", "enable", "unknown key `sources.s.enable`; did you mean `enabled`?"),
        ("git", "Paths", "unknown key `sources.s.Paths`; did you mean `paths`?"),
        ("jira", "epic_feild", "did you mean `epic_field`?"),
        ("github", "org", "did you mean `orgs`?"),
        ("prometheus", "retry", "did you mean `retries`?"),
        ("metrics-file", "file", "unknown key `sources.s.file`; known keys: enabled, metrics, min_points,"),
    ],
)
def test_every_built_in_source_refuses_keys_it_does_not_know(source: str, key: str, message: str) -> None:
    from impact_miner.model import SourceSection
    from impact_miner.registry import available, check_options

    connector = available()[source]
    with pytest.raises(ConfigError) as raised:
        check_options(connector, SourceSection("s", source, {key: True}))
    assert message in str(raised.value)


def test_the_documented_keys_of_every_built_in_source_are_accepted() -> None:
    """Each connector's declared keys are exactly those its docstring's configuration reference shows."""
    import re
    import sys

    from impact_miner.model import SourceSection
    from impact_miner.registry import COMMON_OPTIONS, available, check_options

    for connector in available().values():
        assert connector.options is not None, connector.type
        module = sys.modules[connector.fetch.__module__]
        reference = (module.__doc__ or "").split("\n\n", 2)[2].split("\n\n")[0]
        documented = set(re.findall(r"^ {4}(\w+) = ", reference, re.M)) - {"name", "query", "unit", "scale"}
        documented |= {"metrics"} if "metrics]]" in (module.__doc__ or "") else set()
        if connector.type == "git":
            documented |= {"enabled"}  # the README documents it for every source
        assert documented | COMMON_OPTIONS == connector.options | COMMON_OPTIONS, connector.type
        check_options(connector, SourceSection("s", connector.type, dict.fromkeys(connector.options, 1)))


def test_a_third_party_connector_without_declared_keys_is_not_checked() -> None:
    from impact_miner.model import SourceSection
    from impact_miner.registry import Connector, check_options

    loose = Connector(type="x", summary="x", fetch=lambda *_: None)  # type: ignore[arg-type, return-value]
    check_options(loose, SourceSection("s", "x", {"anything": 1}))


def test_metric_tables_refuse_unknown_keys() -> None:
    from impact_miner.metrics import metric_specs

    with pytest.raises(ConfigError, match=r"\[\[sources.p.metrics\]\] #1: unknown key `bettr`; did you mean"):
        metric_specs(
            {"metrics": [{"name": "x", "query": "up", "bettr": "lower"}]}, "sources.p", needs_query=True
        )
