"""The local SQLite cache shared by connectors (evidence per window) and writers (model replies).

One file, ``cache.sqlite3`` in the platform cache directory (``$IMPACT_MINER_CACHE`` overrides the
path). Values are JSON. Keys are JSON objects chosen by the caller and stored hashed; callers must
never put a secret in a key or a value.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Callable, Mapping
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ENV_VAR = "IMPACT_MINER_CACHE"
SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    namespace TEXT NOT NULL,
    key_hash TEXT NOT NULL,
    key_json TEXT NOT NULL,
    value_json TEXT NOT NULL,
    stored_at TEXT NOT NULL,
    PRIMARY KEY (namespace, key_hash)
)
"""


def default_cache_path(env: Mapping[str, str]) -> Path:
    if env.get(ENV_VAR):
        return Path(env[ENV_VAR]).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("impact-miner")) / "cache.sqlite3"


@dataclass(frozen=True)
class CacheInfo:
    path: Path
    size_bytes: int
    entries: dict[str, int]


class Cache:
    """A namespaced JSON key-value store. ``refresh=True`` ignores what is stored (but still writes)."""

    def __init__(self, path: Path, *, refresh: bool = False) -> None:
        self.path = path
        self.refresh = refresh
        self.hits = 0
        self._lock = threading.Lock()
        self._ready = False

    def get(self, namespace: str, key: Mapping[str, Any]) -> Any | None:
        """The stored value for ``key``, or ``None`` (always ``None`` when refreshing)."""
        if self.refresh or not self.path.exists():
            return None
        with self._lock, closing(self._connect()) as db:
            row = db.execute(
                "SELECT value_json FROM entries WHERE namespace = ? AND key_hash = ?",
                (namespace, _hash(key)),
            ).fetchone()
        if row is None:
            return None
        self.hits += 1
        return json.loads(row[0])

    def put(self, namespace: str, key: Mapping[str, Any], value: Any) -> None:
        key_json = json.dumps(key, sort_keys=True, default=str)
        with self._lock, closing(self._connect()) as db, db:
            row = (
                namespace,
                _hash(key),
                key_json,
                json.dumps(value, default=str),
                datetime.now(UTC).isoformat(),
            )
            db.execute("INSERT OR REPLACE INTO entries VALUES (?, ?, ?, ?, ?)", row)

    def info(self) -> CacheInfo:
        if not self.path.exists():
            return CacheInfo(self.path, 0, {})
        with self._lock, closing(self._connect()) as db:
            query = "SELECT namespace, COUNT(*) FROM entries GROUP BY namespace ORDER BY namespace"
            rows = db.execute(query).fetchall()
        return CacheInfo(self.path, self.path.stat().st_size, {str(n): int(c) for n, c in rows})

    def clear(self, namespace: str | None = None) -> int:
        """Delete every entry (or one namespace's); returns how many were removed."""
        if not self.path.exists():
            return 0
        with self._lock, closing(self._connect()) as db, db:
            if namespace is None:
                removed = db.execute("DELETE FROM entries").rowcount
            else:
                removed = db.execute("DELETE FROM entries WHERE namespace = ?", (namespace,)).rowcount
        with closing(self._connect()) as db:
            db.execute("VACUUM")
        return int(removed)

    def _connect(self) -> sqlite3.Connection:
        if not self._ready:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=30)
        if not self._ready:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(SCHEMA)
            db.commit()
            self.path.chmod(0o600)
            self._ready = True
        return db


def cached(
    cache: Cache | None,
    namespace: str,
    key: Mapping[str, Any],
    fetch: Callable[[], Any],
    *,
    storable: Callable[[Any], bool],
) -> Any:
    """``fetch()``'s JSON-able result, served from ``cache`` when stored; stored when ``storable(result)``.

    Connectors use it per window: only a window that had already ended when it was fetched, and that
    came back complete, is storable, so a rerun of a closed range makes no requests.
    """
    if cache is not None:
        hit = cache.get(namespace, key)
        if hit is not None:
            return hit
    value = fetch()
    if cache is not None and storable(value):
        cache.put(namespace, key, value)
    return value


def _hash(key: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()
