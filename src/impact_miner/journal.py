"""The journal: every saved run (``mine --save``) in one local SQLite database, and your edits to it.

Where it lives: ``$IMPACT_MINER_JOURNAL``, else ``path`` in the config's ``[journal]`` table (relative
paths are relative to the config file), else ``journal.sqlite3`` in the platform data directory
(``platformdirs.user_data_dir("impact-miner")``)::

    [journal]
    path = "~/Documents/impact/journal.sqlite3"

What it holds (schema version in ``PRAGMA user_version``, upgraded by the ordered :data:`MIGRATIONS`):

- ``runs``: one row per saved run: person, range (spec and resolved bounds), writer, coverage, when.
- ``evidence``: one row per evidence id across all runs; a later save replaces it (latest version kept).
- ``run_evidence``: which evidence each run found, and the project it was grouped into.
- ``projects``: each run's projects with their generated statements; statement ids are ``RUN.N``
  (the N-th project of run RUN), as ``mine journal list`` prints them.
- ``edits``: statements you rewrote (``mine journal edit RUN.N``), with the evidence the statement was
  written for. Saves never touch this table, so an edit is never overwritten by a later run.

Every save is one ``BEGIN IMMEDIATE … COMMIT`` transaction in WAL mode: a process killed at any point
leaves the previous runs intact and the new one either complete or absent.
"""

from __future__ import annotations

import json
import sqlite3
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from impact_miner.config import JOURNAL_KEYS, check_keys
from impact_miner.errors import ConfigError, MineError
from impact_miner.model import Evidence, Person, Report, SourceReport, TimeRange, Writer

ENV_VAR = "IMPACT_MINER_JOURNAL"
FILE_NAME = "journal.sqlite3"
BUSY_TIMEOUT_SECONDS = 30

# Ordered schema migrations: MIGRATIONS[i] takes the database from version i to i + 1. Append, never edit.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE runs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            created_at TEXT NOT NULL,
            person_name TEXT NOT NULL,
            person_json TEXT NOT NULL,
            range_spec TEXT NOT NULL,
            since TEXT NOT NULL,
            until TEXT NOT NULL,
            since_utc TEXT NOT NULL,
            until_utc TEXT NOT NULL,
            writer_json TEXT NOT NULL,
            coverage_json TEXT NOT NULL
        )""",
        """CREATE TABLE evidence (
            id TEXT PRIMARY KEY,
            data_json TEXT NOT NULL,
            completed_utc TEXT NOT NULL,
            run_id INTEGER NOT NULL REFERENCES runs(id)
        )""",
        """CREATE TABLE run_evidence (
            run_id INTEGER NOT NULL REFERENCES runs(id),
            evidence_id TEXT NOT NULL REFERENCES evidence(id),
            project_id TEXT,
            position INTEGER NOT NULL,
            PRIMARY KEY (run_id, evidence_id)
        )""",
        """CREATE TABLE projects (
            run_id INTEGER NOT NULL REFERENCES runs(id),
            position INTEGER NOT NULL,
            project_id TEXT NOT NULL,
            title TEXT NOT NULL,
            statement TEXT NOT NULL,
            evidence_ids_json TEXT NOT NULL,
            data_json TEXT NOT NULL,
            PRIMARY KEY (run_id, position),
            UNIQUE (run_id, project_id)
        )""",
        """CREATE TABLE edits (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            run_id INTEGER NOT NULL,
            position INTEGER NOT NULL,
            statement TEXT NOT NULL,
            evidence_ids_json TEXT NOT NULL,
            edited_at TEXT NOT NULL,
            FOREIGN KEY (run_id, position) REFERENCES projects(run_id, position)
        )""",
    ),
    (
        "CREATE INDEX run_evidence_by_evidence ON run_evidence(evidence_id)",
        "CREATE INDEX runs_by_range ON runs(since_utc, until_utc)",
        "CREATE INDEX edits_by_statement ON edits(run_id, position)",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)

Checkpoint = Callable[[str], None]


class JournalError(MineError):
    """A journal that cannot be used, or an id that is not in it (exit 2)."""


@dataclass(frozen=True)
class SavedStatement:
    """One project's statement in a saved run; ``text`` is your latest edit when there is one."""

    id: str
    run_id: int
    position: int
    project_id: str
    title: str
    text: str
    generated: str
    evidence_ids: tuple[str, ...]
    edited_at: datetime | None = None

    @property
    def edited(self) -> bool:
        return self.edited_at is not None


@dataclass(frozen=True)
class SavedRun:
    """A saved run as ``mine journal list`` shows it."""

    id: int
    created_at: datetime
    person: Person
    range: TimeRange
    writer: Writer
    coverage: tuple[SourceReport, ...]
    evidence_count: int
    statements: tuple[SavedStatement, ...] = field(default=())

    @property
    def seen_until(self) -> datetime:
        """The end of what this run could have seen: its range's end, or the moment it ran if earlier."""
        return min(self.range.until, self.created_at)


def default_journal_path() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir("impact-miner")) / FILE_NAME


def journal_path(env: Mapping[str, str], config_file: Path | None) -> Path:
    """``$IMPACT_MINER_JOURNAL``, else ``[journal] path`` of ``config_file`` if it exists, else the default.

    Only the ``[journal]`` table is read, so no secret of the config is resolved for journal commands.
    """
    if env.get(ENV_VAR):
        return Path(env[ENV_VAR]).expanduser()
    if config_file is not None and config_file.exists():
        try:
            data = tomllib.loads(config_file.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, OSError, UnicodeDecodeError) as exc:
            raise ConfigError(
                f"config {config_file} cannot be read: {exc}; fix it or pass another --config"
            ) from None
        table = data.get("journal", {})
        if not isinstance(table, dict):
            raise ConfigError(f"config {config_file}: `journal` must be a table, e.g. [journal]")
        check_keys(table, JOURNAL_KEYS, "journal", config_file)
        configured = table.get("path")
        if configured is not None:
            if not isinstance(configured, str) or not configured.strip():
                raise ConfigError(
                    f'config {config_file}: `journal.path` must be a file path, e.g. "journal.db"'
                )
            path = Path(configured).expanduser()
            return path if path.is_absolute() else config_file.parent / path
    return default_journal_path()


def parse_statement_id(text: str) -> tuple[int, int]:
    """``"3.2"`` (or ``"#3.2"``) → ``(3, 2)``: run 3, its second statement."""
    run, dot, position = text.strip().lstrip("#").partition(".")
    if not (dot and run.isdigit() and position.isdigit()):
        raise JournalError(
            f"statement id {text!r} is not of the form RUN.N (e.g. 3.2); `mine journal list` shows the ids"
        )
    return int(run), int(position)


def same_person(a: Person, b: Person) -> bool:
    """Whether two people are the same: equal names when both have one, else a shared email or login."""
    if a.name.strip() and b.name.strip():
        return a.name.strip().casefold() == b.name.strip().casefold()
    if {e.lower() for e in a.emails} & {e.lower() for e in b.emails}:
        return True
    return any(
        b.logins.get(source, "").lower() == login.lower() for source, login in a.logins.items() if login
    )


class Journal:
    """The journal database at ``path``; it is created (and migrated) on first use."""

    def __init__(self, path: Path) -> None:
        self.path = path

    # ---- writing ----------------------------------------------------------------------------------

    def save(self, report: Report, *, created_at: datetime, checkpoint: Checkpoint | None = None) -> int:
        """Record ``report`` as a new run in one transaction and return the run id.

        ``checkpoint(stage)`` is called inside the transaction after each stage (``run``, ``evidence``,
        ``projects``); tests use it to kill a save half way.
        """
        try:
            return self._save(report, created_at.astimezone(UTC), checkpoint or (lambda _stage: None))
        except sqlite3.OperationalError as exc:  # a full disk, a read-only file: nothing was written
            raise JournalError(
                f"journal {self.path}: the run was not saved ({exc}); free some space or set {ENV_VAR} to a "
                "writable place, then save again (earlier runs are intact)"
            ) from None

    def _save(self, report: Report, created: datetime, step: Checkpoint) -> int:
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT INTO runs (created_at, person_name, person_json, range_spec, since, until, since_utc,"
                " until_utc, writer_json, coverage_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    created.isoformat(),
                    report.person.name,
                    json.dumps(asdict(report.person), sort_keys=True),
                    report.range.spec,
                    report.range.since.isoformat(),
                    report.range.until.isoformat(),
                    _utc(report.range.since),
                    _utc(report.range.until),
                    json.dumps(asdict(report.writer), sort_keys=True),
                    json.dumps([asdict(c) for c in report.coverage], sort_keys=True),
                ),
            )
            run_id = int(cursor.lastrowid or 0)
            step("run")
            for position, item in enumerate(report.evidence, 1):
                stored = {**item.to_dict(), "project_id": None}  # projects belong to runs, not evidence
                db.execute(
                    "INSERT INTO evidence (id, data_json, completed_utc, run_id) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT(id) DO UPDATE SET data_json = excluded.data_json, "
                    "completed_utc = excluded.completed_utc, run_id = excluded.run_id",
                    (item.id, json.dumps(stored, sort_keys=True), _utc(item.completed_at), run_id),
                )
                db.execute(
                    "INSERT OR IGNORE INTO run_evidence (run_id, evidence_id, project_id, position) "
                    "VALUES (?, ?, ?, ?)",
                    (run_id, item.id, item.project_id, position),
                )
            step("evidence")
            for position, project in enumerate(report.projects, 1):
                data = {k: v for k, v in asdict(project).items() if k not in ("id", "title", "statement")}
                data.pop("evidence_ids")
                db.execute(
                    "INSERT INTO projects (run_id, position, project_id, title, statement, evidence_ids_json,"
                    " data_json) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        run_id,
                        position,
                        project.id,
                        project.title,
                        project.statement,
                        json.dumps(project.evidence_ids),
                        json.dumps(data, sort_keys=True),
                    ),
                )
            step("projects")
        return run_id

    def edit(self, statement_id: str, text: str, *, edited_at: datetime) -> SavedStatement:
        """Keep ``text`` as your version of the statement ``statement_id`` and return it."""
        if not text.strip():
            raise JournalError("an edited statement cannot be empty; nothing was saved")
        current = self.statement(statement_id)
        with self._transaction() as db:
            db.execute(
                "INSERT INTO edits (run_id, position, statement, evidence_ids_json, edited_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (
                    current.run_id,
                    current.position,
                    text.strip(),
                    json.dumps(list(current.evidence_ids)),
                    edited_at.astimezone(UTC).isoformat(),
                ),
            )
        return self.statement(statement_id)

    # ---- reading ----------------------------------------------------------------------------------

    def runs(self) -> list[SavedRun]:
        """Every saved run, oldest first, with its statements (edited text where edited)."""
        if not self.path.exists():
            return []
        with self._read() as db:
            statements = self._statements(db, None)
            rows = db.execute(
                "SELECT r.id, r.created_at, r.person_json, r.range_spec, r.since, r.until, r.writer_json, "
                "r.coverage_json, (SELECT COUNT(*) FROM run_evidence e WHERE e.run_id = r.id) "
                "FROM runs r ORDER BY r.id"
            ).fetchall()
        return [
            SavedRun(
                id=int(row[0]),
                created_at=datetime.fromisoformat(row[1]),
                person=Person(**json.loads(row[2])),
                range=TimeRange(datetime.fromisoformat(row[4]), datetime.fromisoformat(row[5]), row[3]),
                writer=Writer(**json.loads(row[6])),
                coverage=tuple(SourceReport(**c) for c in json.loads(row[7])),
                evidence_count=int(row[8]),
                statements=tuple(s for s in statements if s.run_id == row[0]),
            )
            for row in rows
        ]

    def statement(self, statement_id: str) -> SavedStatement:
        """The statement ``RUN.N``, or a :class:`JournalError` that says how to find the ids."""
        run_id, position = parse_statement_id(statement_id)
        found = []
        if self.path.exists():
            with self._read() as db:
                found = self._statements(db, (run_id, position))
        if not found:
            raise JournalError(
                f"no statement {run_id}.{position} in the journal {self.path}; "
                "`mine journal list` shows the saved runs and their statement ids"
            )
        return found[0]

    def edited_statements(self, run_ids: Iterable[int]) -> list[SavedStatement]:
        """The statements of ``run_ids`` that you edited, each with its latest edit."""
        wanted = set(run_ids)
        if not wanted or not self.path.exists():
            return []
        with self._read() as db:
            return [s for s in self._statements(db, None) if s.edited and s.run_id in wanted]

    def evidence(self, run_ids: Iterable[int], within: TimeRange | None = None) -> list[Evidence]:
        """The latest version of every item the runs found (each once), completed ``within`` the range."""
        ids = sorted(set(run_ids))
        if not ids or not self.path.exists():
            return []
        marks = ",".join("?" * len(ids))
        query = (
            "SELECT e.data_json FROM evidence e WHERE e.id IN "
            f"(SELECT evidence_id FROM run_evidence WHERE run_id IN ({marks}))"
        )
        params: list[Any] = list(ids)
        if within is not None:
            query += " AND e.completed_utc >= ? AND e.completed_utc < ?"
            params += [_utc(within.since), _utc(within.until)]
        with self._read() as db:
            rows = db.execute(query + " ORDER BY e.completed_utc, e.id", params).fetchall()
        return [Evidence.from_dict(json.loads(row[0])) for row in rows]

    def integrity(self) -> str:
        """SQLite's ``PRAGMA integrity_check`` answer (``"ok"`` for a sound file)."""
        with self._read() as db:
            return str(db.execute("PRAGMA integrity_check").fetchone()[0])

    # ---- connections ------------------------------------------------------------------------------

    def _statements(self, db: sqlite3.Connection, only: tuple[int, int] | None) -> list[SavedStatement]:
        query = (
            "SELECT p.run_id, p.position, p.project_id, p.title, p.statement, p.evidence_ids_json, "
            "(SELECT x.statement FROM edits x WHERE x.run_id = p.run_id AND x.position = p.position "
            " ORDER BY x.id DESC LIMIT 1), "
            "(SELECT x.edited_at FROM edits x WHERE x.run_id = p.run_id AND x.position = p.position "
            " ORDER BY x.id DESC LIMIT 1) "
            "FROM projects p"
        )
        params: Sequence[int] = ()
        if only is not None:
            query += " WHERE p.run_id = ? AND p.position = ?"
            params = only
        rows = db.execute(query + " ORDER BY p.run_id, p.position", params).fetchall()
        return [
            SavedStatement(
                id=f"{row[0]}.{row[1]}",
                run_id=int(row[0]),
                position=int(row[1]),
                project_id=row[2],
                title=row[3],
                text=row[6] if row[6] is not None else row[4],
                generated=row[4],
                evidence_ids=tuple(json.loads(row[5])),
                edited_at=datetime.fromisoformat(row[7]) if row[7] else None,
            )
            for row in rows
        ]

    def _connect(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fresh = not self.path.exists()
            db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
            if fresh:
                self.path.chmod(0o600)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA foreign_keys=ON")
            self._migrate(db)
        except sqlite3.DatabaseError as exc:
            raise JournalError(
                f"journal {self.path} cannot be opened ({exc}); move it aside or set {ENV_VAR} to another"
            ) from None
        except OSError as exc:
            raise JournalError(
                f"journal {self.path} cannot be created ({exc.strerror}); set {ENV_VAR} to a writable path"
            ) from None
        return db

    def _migrate(self, db: sqlite3.Connection) -> None:
        """Bring the schema to :data:`SCHEMA_VERSION`, each pending migration in one transaction."""
        version = int(db.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise JournalError(
                f"journal {self.path} has schema version {version}, newer than this impact-miner knows "
                f"({SCHEMA_VERSION}); upgrade impact-miner or set {ENV_VAR} to another journal"
            )
        if version == SCHEMA_VERSION:
            return
        db.execute("BEGIN IMMEDIATE")
        try:
            version = int(db.execute("PRAGMA user_version").fetchone()[0])  # another process may have won
            for statements in MIGRATIONS[version:]:
                for statement in statements:
                    db.execute(statement)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def _transaction(self) -> _Transaction:
        return _Transaction(self._connect(), immediate=True)

    def _read(self) -> _Transaction:
        return _Transaction(self._connect(), immediate=False)


class _Transaction:
    """``with`` a connection: ``BEGIN [IMMEDIATE]`` on entry, then ``COMMIT`` or ``ROLLBACK``, and close."""

    def __init__(self, db: sqlite3.Connection, *, immediate: bool) -> None:
        self.db = db
        self.immediate = immediate

    def __enter__(self) -> sqlite3.Connection:
        self.db.execute("BEGIN IMMEDIATE" if self.immediate else "BEGIN")
        return self.db

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        try:
            self.db.execute("COMMIT" if kind is None else "ROLLBACK")
        finally:
            self.db.close()


def _utc(moment: datetime) -> str:
    """A sortable UTC ISO string, so ranges in different offsets compare correctly as text."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


SCISSORS = "# ------------------------ >8 ------------------------"


def edit_buffer(statement: SavedStatement, run: SavedRun | None = None) -> str:
    """The text ``mine journal edit`` opens: the statement, then (below the scissors) what it is about."""
    about = [
        SCISSORS,
        "# Edit the statement above this line; everything from the line above down is ignored.",
        "# Your edit is kept in the journal: later runs never overwrite it, and `mine review` uses it",
        "# for the project that still holds all of the evidence below.",
        f"# Statement {statement.id}: {statement.title}",
    ]
    if run is not None:
        about.append(
            f"# Run #{run.id}: {run.range.since:%Y-%m-%d} → {run.range.until:%Y-%m-%d} ({run.range.spec})"
        )
    if statement.edited:
        about.append(f"# Generated statement: {' '.join(statement.generated.split())}")
    about.append("# Evidence it was written for:")
    about += [f"#   {evidence_id}" for evidence_id in statement.evidence_ids]
    return f"{statement.text.strip()}\n\n" + "\n".join(about) + "\n"


def read_edit_buffer(text: str) -> str:
    """The statement part of an edited buffer: everything above the scissors line, trimmed."""
    kept: list[str] = []
    for line in text.splitlines():
        if line.strip() == SCISSORS:
            break
        kept.append(line)
    return "\n".join(kept).strip()
