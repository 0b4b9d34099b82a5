"""Real temporary git repositories with fixed dates, built with the real ``git`` binary.

    repo = GitRepo.init(tmp_path / "api", remote="git@github.com:acme/api.git")
    sha = repo.commit("Add search (#12)", {"src/search.py": "x = 1\\n"}, author=ADA, when=dt)

Every call runs git with HOME set to a private directory (``<parent of the repo>/.git-home`` unless
given), no system config and no commit signing, so this machine's git config never leaks in. Code under
test runs git itself: :func:`isolate` gives it the same clean environment, and ``conftest.py`` applies it
to every test (``isolation.py``).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

Author = tuple[str, str]
ADA: Author = ("Ada Lovelace", "ada@x.io")
BOB: Author = ("Bob Builder", "bob@x.io")
DEPENDABOT: Author = ("dependabot[bot]", "49699333+dependabot[bot]@users.noreply.github.com")


def git_env(home: Path) -> dict[str, str]:
    """The current environment without GIT_*/EMAIL variables, with a private HOME and no system config."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_") and k != "EMAIL"}
    home.mkdir(parents=True, exist_ok=True)
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=str(home / ".gitconfig"),
        GIT_TERMINAL_PROMPT="0",
    )
    return env


def isolate(monkeypatch: Any, home: Path) -> None:
    """Make the test process (and every git it starts) use :func:`git_env` ``(home)``."""
    for key in [k for k in os.environ if k.startswith("GIT_") or k == "EMAIL"]:
        monkeypatch.delenv(key)
    for key, value in git_env(home).items():
        monkeypatch.setenv(key, value)


def _date(when: datetime) -> str:
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).isoformat()


class GitRepo:
    """A git work tree under ``path``; see the module docstring."""

    def __init__(self, path: Path, home: Path | None = None) -> None:
        self.path = Path(path)
        self.home = home or self.path.parent / ".git-home"
        self.env = git_env(self.home)

    @classmethod
    def init(
        cls,
        path: Path,
        remote: str | None = None,
        user_email: str | None = None,
        *,
        home: Path | None = None,
        branch: str = "main",
    ) -> GitRepo:
        """``git init`` a new repository, with an ``origin`` remote and ``user.email`` when given."""
        Path(path).mkdir(parents=True, exist_ok=True)
        repo = cls(path, home)
        repo.git("init", "-q", "-b", branch)
        if remote:
            repo.git("remote", "add", "origin", remote)
        if user_email:
            repo.git("config", "user.email", user_email)
        return repo

    def git(self, *args: str, env: Mapping[str, str] | None = None) -> str:
        """Run git in the repository and return its stripped stdout (raises on failure)."""
        done = subprocess.run(
            ["git", "-c", "commit.gpgsign=false", "-c", "user.useConfigOnly=false", *args],
            cwd=self.path,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode:
            raise RuntimeError(f"git {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout.strip()

    def _identity_env(
        self, author: Author, when: datetime, committer: Author | None, committer_when: datetime | None
    ) -> dict[str, str]:
        committer = committer or author
        return {
            "GIT_AUTHOR_NAME": author[0],
            "GIT_AUTHOR_EMAIL": author[1],
            "GIT_AUTHOR_DATE": _date(when),
            "GIT_COMMITTER_NAME": committer[0],
            "GIT_COMMITTER_EMAIL": committer[1],
            "GIT_COMMITTER_DATE": _date(committer_when or when),
        }

    def commit(
        self,
        message: str,
        files: Mapping[str, str | bytes | None] | None = None,
        *,
        author: Author = ADA,
        when: datetime,
        committer: Author | None = None,
        committer_when: datetime | None = None,
    ) -> str:
        """Write ``files`` (text, bytes, or None to delete), commit them all and return the full sha.

        The committer and committer date default to the author and ``when``; naive datetimes are UTC.
        """
        for name, content in (files or {}).items():
            target = self.path / name
            if content is None:
                self.git("rm", "-q", "--", name)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                target.write_bytes(content)
            else:
                target.write_text(content)
            self.git("add", "--", name)
        env = self._identity_env(author, when, committer, committer_when)
        self.git(
            "-c", f"user.email={author[1]}", "commit", "-q", "--allow-empty", "--cleanup=verbatim",
            "-m", message, env=env,
        )  # fmt: skip
        return self.git("rev-parse", "HEAD")

    def checkout(self, branch: str, *, create: bool = False, start: str | None = None) -> None:
        """Switch to ``branch`` (``create=True``: a new branch at ``start`` or HEAD)."""
        self.git("checkout", "-q", *(["-b"] if create else []), branch, *([start] if start else []))

    def merge(
        self,
        branch: str,
        message: str | None = None,
        *,
        author: Author = ADA,
        when: datetime,
        committer_when: datetime | None = None,
    ) -> str:
        """Merge ``branch`` into the current branch with a merge commit (``--no-ff``); return its sha."""
        env = self._identity_env(author, when, None, committer_when)
        self.git(
            "-c", f"user.email={author[1]}", "merge", "-q", "--no-ff", "--no-edit",
            "-m", message or f"Merge branch '{branch}'", branch, env=env,
        )  # fmt: skip
        return self.git("rev-parse", "HEAD")
