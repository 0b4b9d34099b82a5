"""Where the recorded API data shared beside our checkouts lives, and the test fixtures the project owns.

``../shared/data`` (next to the project root; ``$IMPACT_MINER_SHARED_DATA`` overrides it) holds real
GitHub, Jira and GitLab recordings and GitHub's full GraphQL schema. It exists beside our own checkouts
and in CI, not in a fresh clone: the default tests run on :data:`FIXTURES` (small payloads in the real
shapes, made from the recordings by ``tests/fixtures/make_fixtures.py``), and a test that needs the
recordings themselves is marked ``@pytest.mark.needs_shared_data`` and skipped, with the reason, when
they are absent (see ``conftest.py``).
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
ENV_VAR = "IMPACT_MINER_SHARED_DATA"


def shared_data() -> Path:
    """``$IMPACT_MINER_SHARED_DATA``, else ``../shared/data`` next to the project root."""
    return Path(os.environ.get(ENV_VAR) or ROOT.parent / "shared" / "data")


def have_shared_data() -> bool:
    """Whether the recordings are there (their README marks a complete copy)."""
    return (shared_data() / "README.md").is_file()


def skip_reason() -> str:
    return (
        f"needs the recorded API data in {shared_data()} (absent: a fresh clone has no ../shared; "
        f"set {ENV_VAR} to its path)"
    )
