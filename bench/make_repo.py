"""Build a realistic git repository quickly with ``git fast-import`` (one process, not one per commit).

    python bench/make_repo.py DIR [--commits 10000] [--days 730]

Several authors (one with an old email mapped by ``.mailmap``), a dependabot, merge commits every ~40
commits, 1-6 changed files per commit, ticket keys and ``(#123)`` pull-request numbers in subjects,
spread evenly (with jitter) over ``--days`` ending 2026-11-01.
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

END = datetime(2026, 11, 1, tzinfo=UTC)
AUTHORS = [
    ("Ada Lovelace", "ada@acme.io"),
    ("Grace Hopper", "grace@acme.io"),
    ("Linus Pauling", "linus@acme.io"),
    ("Margaret Hamilton", "margaret@acme.io"),
    ("Ken Thompson", "ken@acme.io"),
    ("Barbara Liskov", "barbara@acme.io"),
]
OLD_ADA = ("Ada L.", "ada@old-acme.io")
BOT = ("dependabot[bot]", "49699333+dependabot[bot]@users.noreply.github.com")
MAILMAP = "Ada Lovelace <ada@acme.io> <ada@old-acme.io>\n"
AREAS = {
    "src/api": ["handlers", "routes", "auth", "pagination", "errors", "schemas"],
    "src/search": ["index", "ranking", "merge", "tokenizer", "query", "cache"],
    "src/billing": ["invoices", "plans", "webhooks", "tax", "refunds"],
    "src/web/components": ["Login", "Footer", "SearchBox", "Checkout", "Profile"],
    "tests": ["test_api", "test_search", "test_billing", "test_auth"],
    "docs": ["guide", "api", "runbook", "architecture"],
    "infra": ["deploy", "alerts", "dashboards"],
}
KEYS = ["SEARCH", "API", "BILL", "WEB", "OPS"]
VERBS = ["Fix", "Add", "Refactor", "Speed up", "Remove", "Handle", "Document", "Test", "Simplify"]
THINGS = [
    "timeouts",
    "retries",
    "null results",
    "pagination",
    "rate limits",
    "caching",
    "logging",
    "p95 latency",
]
DEPS = ["requests", "urllib3", "pydantic", "react", "lodash", "boto3"]


def _files() -> list[str]:
    files = []
    for area, names in AREAS.items():
        ext = ".tsx" if "web" in area else ".md" if area == "docs" else ".tf" if area == "infra" else ".py"
        for name in names:
            files += [f"{area}/{name}{ext}"] + [f"{area}/{name}_{i}{ext}" for i in range(1, 5)]
    return files


def _mutate(rng: random.Random, lines: list[str], n: int) -> None:
    for _ in range(rng.randint(1, 6)):
        roll = rng.random()
        if roll < 0.45 or len(lines) < 10:
            lines.insert(rng.randrange(len(lines) + 1), f"line {n} {rng.getrandbits(32):08x} of the change")
        elif roll < 0.8:
            lines[rng.randrange(len(lines))] = f"edited in {n}: {rng.getrandbits(24):06x}"
        else:
            del lines[rng.randrange(len(lines))]
    if len(lines) > 90:
        del lines[: rng.randint(10, 30)]


def _subject(rng: random.Random, path: str, n: int) -> tuple[str, str]:
    thing = path.rsplit("/", 1)[-1].split(".")[0].split("_")[0]
    subject = f"{rng.choice(VERBS)} {rng.choice(THINGS)} in {thing}"
    roll = rng.random()
    if roll < 0.4:
        subject += f" ({rng.choice(KEYS)}-{rng.randint(1, 400)})"
    elif roll < 0.7:
        subject += f" (#{1000 + n // 3})"
    body = ""
    if rng.random() < 0.5:
        ticket = f"{rng.choice(KEYS)}-{rng.randint(1, 400)}"
        body = f"The {thing} path now handles {rng.choice(THINGS)} correctly.\n\nRefs {ticket}"
    return subject, body


def stream(commits: int, days: int, seed: int = 7) -> bytes:
    """The fast-import stream of a ``commits``-commit history on refs/heads/main."""
    rng = random.Random(seed)
    paths = _files()
    content = {p: [f"# {p}"] + [f"initial {i}" for i in range(rng.randint(10, 60))] for p in paths}
    start = END.timestamp() - days * 86400
    step = days * 86400 / commits
    out: list[bytes] = []

    def data(text: str) -> None:
        raw = text.encode()
        out.append(b"data %d\n" % len(raw) + raw + b"\n")

    def header(mark: int, who: tuple[str, str], when: int, landed: int, message: str, parent: int) -> None:
        out.append(b"commit refs/heads/main\nmark :%d\n" % mark)
        out.append(f"author {who[0]} <{who[1]}> {when} +0000\n".encode())
        out.append(f"committer {who[0]} <{who[1]}> {landed} +0000\n".encode())
        data(message)
        if parent:
            out.append(b"from :%d\n" % parent)

    def write(paths_: list[str]) -> None:
        for p in paths_:
            out.append(f"M 100644 inline {p}\n".encode())
            data("\n".join(content[p]) + "\n")

    header(1, AUTHORS[0], int(start), int(start), "Initial import", 0)
    write(paths)
    out.append(b"M 100644 inline .mailmap\n")
    data(MAILMAP)
    tip, side = 1, 0
    side_paths: list[str] = []
    for n in range(2, commits + 1):
        when = int(start + n * step + rng.uniform(-step / 3, step / 3))
        landed = when + (rng.randint(0, 3 * 3600) if rng.random() < 0.8 else rng.randint(0, 3 * 86400))
        if side and n % 40 == 1:
            message = f"Merge pull request #{1000 + n // 3} from acme/topic\n"
            header(n, AUTHORS[n % len(AUTHORS)], when, landed, message, tip)
            out.append(b"merge :%d\n" % side)
            write(side_paths)
            tip, side = n, 0
            continue
        if rng.random() < 0.03:
            dep = rng.choice(DEPS)
            who, subject, body, touched = (
                BOT,
                f"Bump {dep} from 1.{n % 9}.0 to 1.{n % 9 + 1}.0",
                "",
                ["docs/api.md"],
            )
        else:
            who = rng.choice(AUTHORS)
            if who == AUTHORS[0] and n < commits // 2 and rng.random() < 0.5:
                who = OLD_ADA
            touched = rng.sample(paths, rng.choice([1, 1, 2, 2, 3, 4, 6]))
            subject, body = _subject(rng, touched[0], n)
        header(n, who, when, landed, f"{subject}\n\n{body}\n" if body else subject + "\n", tip)
        for p in touched:
            _mutate(rng, content[p], n)
        write(touched)
        if n % 40 == 39:  # a topic branch: main goes on from the parent, the next-but-one commit merges it
            side, side_paths = n, touched
        else:
            tip = n
    return b"".join(out)


def build(directory: Path, commits: int = 10_000, days: int = 730) -> Path:
    """Create ``directory`` as a git repository holding the generated history; return it."""
    directory.mkdir(parents=True, exist_ok=True)

    def git(*args: str, stdin: bytes | None = None) -> None:
        subprocess.run(["git", *args], cwd=directory, input=stdin, check=True, capture_output=True)

    git("init", "-q", "-b", "main")
    git("remote", "add", "origin", "https://github.com/acme/bench.git")
    git("fast-import", "--quiet", stdin=stream(commits, days))
    git("reset", "-q", "--hard")
    return directory


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--commits", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=730)
    args = parser.parse_args(argv)
    build(args.directory, args.commits, args.days)
    print(f"built {args.commits} commits in {args.directory}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
