"""Shared test configuration: every test runs isolated from this machine (``isolation.py``), and the
``needs_shared_data`` marker (see ``shared_data.py``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from impact_miner import registry
from isolation import Isolated, isolate_test
from shared_data import have_shared_data, skip_reason


@pytest.fixture(autouse=True)
def isolated(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[Isolated]:
    """Each test's private HOME, cache, journal and environment, outside its ``tmp_path`` (which stays
    the test's own); only the built-in connectors are registered."""
    yield isolate_test(monkeypatch, tmp_path_factory.mktemp("isolated"))
    registry._load.cache_clear()  # the next test loads the entry points under its own view


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "needs_shared_data: reads the recordings in ../shared/data; skipped with the reason when absent",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if have_shared_data():
        return
    skip = pytest.mark.skip(reason=skip_reason())
    for item in items:
        if "needs_shared_data" in item.keywords:
            item.add_marker(skip)
