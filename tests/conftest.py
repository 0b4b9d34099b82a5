"""Shared test configuration: the ``needs_shared_data`` marker (see ``shared_data.py``)."""

from __future__ import annotations

import pytest

from shared_data import have_shared_data, skip_reason


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
