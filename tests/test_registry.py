"""The connector registry: built-ins through the entry-point group, a broken third-party connector skipped
with one warning line instead of failing every run, and tests that see only the built-ins."""

from __future__ import annotations

import importlib.metadata as md
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from clirun import run_mine as run
from gitrepo import ADA, GitRepo
from impact_miner import registry
from impact_miner.errors import ConnectorWarning

BUILTINS = {"git", "github", "gitlab", "jira", "metrics-file", "prometheus"}


def third_party(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **entries: str) -> list[md.EntryPoint]:
    """A real installed distribution ``acme-connectors`` (its ``.dist-info`` on a path of its own)
    registering ``entries`` (name → ``module:attr``); ``acme_bad`` is an importable module whose
    ``connector`` is not a Connector."""
    site = tmp_path / "site"
    info = site / "acme_connectors-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-connectors\nVersion: 1.0\n")
    lines = "".join(f"{name} = {value}\n" for name, value in entries.items())
    (info / "entry_points.txt").write_text(f"[{registry.ENTRY_POINT_GROUP}]\n{lines}")
    (site / "acme_bad.py").write_text("connector = object()\n")
    monkeypatch.syspath_prepend(str(site))
    [dist] = md.distributions(path=[str(site)])
    return list(dist.entry_points)


def install(monkeypatch: pytest.MonkeyPatch, extra: list[md.EntryPoint]) -> None:
    """Make ``extra`` look installed beside the built-in connectors, as the registry loads them."""
    builtins = registry.connector_entry_points()  # the conftest view: impact-miner's own only
    monkeypatch.setattr(registry, "connector_entry_points", lambda: [*builtins, *extra])
    registry._load.cache_clear()


def test_the_built_in_connectors_register_through_the_entry_point_group() -> None:
    assert set(registry.available()) == BUILTINS
    assert all(registry.is_builtin(entry) for entry in registry.connector_entry_points())
    assert registry.skipped_connectors() == []


def test_a_broken_third_party_connector_is_skipped_with_one_warning_each(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    extra = third_party(tmp_path, monkeypatch, missing="acme_missing:connector", bad="acme_bad:connector")
    assert not any(registry.is_builtin(entry) for entry in extra)
    install(monkeypatch, extra)
    with pytest.warns(ConnectorWarning) as caught:
        found = registry.available()
        registry.available()  # loaded once per process: no second warning
    assert set(found) == BUILTINS
    assert [str(w.message) for w in caught] == registry.skipped_connectors()
    missing, bad = registry.skipped_connectors()
    assert missing.startswith("skipped the 'missing' connector (acme_missing:connector): it fails to load")
    assert "ModuleNotFoundError" in missing and "fix or uninstall the package 'acme-connectors'" in missing
    assert bad == (
        "skipped the 'bad' connector (acme_bad:connector): it is not an impact_miner Connector; "
        "fix or uninstall the package 'acme-connectors'"
    )


def test_a_broken_built_in_connector_is_a_bug_and_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    [git] = [e for e in registry.connector_entry_points() if e.name == "git"]
    broken = md.EntryPoint("git", "impact_miner.no_such_module:connector", registry.ENTRY_POINT_GROUP)
    monkeypatch.setattr(registry, "is_builtin", lambda entry: True)
    monkeypatch.setattr(registry, "connector_entry_points", lambda: [git, broken])
    registry._load.cache_clear()
    with pytest.raises(ModuleNotFoundError):
        registry.available()


def test_mine_runs_past_a_broken_third_party_connector_with_one_warning_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    install(monkeypatch, third_party(tmp_path, monkeypatch, missing="acme_missing:connector"))
    repo = GitRepo.init(tmp_path / "api", user_email=ADA[1])
    repo.commit("Add search", {"s.py": "x\n"}, author=ADA, when=datetime.now(UTC) - timedelta(days=2))
    code, out, err = run(capsys, "--since", "2w", "--repo", str(repo.path))
    assert code == 0, err
    assert "Add search" in out
    warned = [line for line in err.splitlines() if "acme_missing" in line]
    assert warned == [line for line in err.splitlines() if line.strip()]  # nothing else on stderr
    assert len(warned) == 1 and warned[0].startswith("mine: warning: skipped the 'missing' connector")

    code, out, err = run(capsys, "sources")
    assert code == 0, err
    assert [line for line in err.splitlines() if line.strip()] == warned
    assert {line.split()[0] for line in out.splitlines()[1:]} == BUILTINS


def test_tests_see_only_the_built_in_connectors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A third-party connector installed in the environment cannot leak into the tests: conftest filters
    the entry points down to impact-miner's own."""
    extra = third_party(tmp_path, monkeypatch, acme="acme_bad:connector")
    monkeypatch.setattr(registry, "entry_points", lambda group: [*md.entry_points(group=group), *extra])
    registry._load.cache_clear()
    installed = {e.name for e in registry.entry_points(group=registry.ENTRY_POINT_GROUP)}
    assert installed == BUILTINS | {"acme"}
    assert {e.name for e in registry.connector_entry_points()} == BUILTINS
    assert set(registry.available()) == BUILTINS and registry.skipped_connectors() == []
