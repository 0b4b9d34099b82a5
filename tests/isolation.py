"""What every test runs in (``conftest.py`` applies it to each test): nothing of this machine leaks in.

- git and the code under test see a private ``HOME`` and ``XDG_*`` directories, no system or global git
  config (:func:`gitrepo.isolate`), so neither this machine's identity nor its ``gh``/``glab`` logins
  are found;
- the cache and the journal are private files (:class:`Isolated` says where), the time zone is UTC;
- no ambient token, config path, editor or debug switch is set (:data:`AMBIENT`);
- only impact-miner's own connectors are registered (:func:`builtin_connectors_only`): a third-party
  connector installed in the environment cannot change what the tests find.

A test that needs something else sets it itself, after this, with ``monkeypatch``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from gitrepo import isolate
from impact_miner import registry

AMBIENT = (
    "IMPACT_MINER_CONFIG", "IMPACT_MINER_DEBUG",
    "GITHUB_TOKEN", "GH_TOKEN", "GH_HOST", "GH_CONFIG_DIR", "GITLAB_TOKEN", "GLAB_CONFIG_DIR",
    "JIRA_API_TOKEN", "OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_API_BASE", "VISUAL", "EDITOR",
)  # fmt: skip


@dataclass(frozen=True)
class Isolated:
    """Where one test's process-wide state lives."""

    root: Path
    home: Path
    cache: Path
    journal: Path


def isolate_test(monkeypatch: pytest.MonkeyPatch, root: Path) -> Isolated:
    """Apply the isolation described in the module docstring under ``root``."""
    found = Isolated(root, root / "home", root / "cache.sqlite3", root / "journal.sqlite3")
    isolate(monkeypatch, found.home)
    for name in AMBIENT:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(found.home / ".cache"))
    monkeypatch.setenv("XDG_DATA_HOME", str(found.home / ".local" / "share"))
    monkeypatch.setenv("TZ", "UTC")
    monkeypatch.setenv("IMPACT_MINER_CACHE", str(found.cache))
    monkeypatch.setenv("IMPACT_MINER_JOURNAL", str(found.journal))
    builtin_connectors_only(monkeypatch)
    return found


def builtin_connectors_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """:func:`impact_miner.registry.available` sees only the entry points of impact-miner itself."""
    installed = registry.connector_entry_points
    monkeypatch.setattr(
        registry, "connector_entry_points", lambda: [e for e in installed() if registry.is_builtin(e)]
    )
    registry._load.cache_clear()
