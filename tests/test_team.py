"""`mine team`: a roster of five against real git repositories and the loopback GitHub and Jira fakes.

The CLI reads the real clock, so commits, pull requests and tickets are dated relative to now.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from clirun import run_mine as run
from fake_github import FakeGitHub, pull
from fake_jira import SERVER_PAT, FakeJira, resolved, server_catalogue, server_user
from fake_prometheus import SlowPrometheus
from gitrepo import GitRepo
from impact_miner.errors import ConfigError, UsageError
from impact_miner.model import Person, TimeRange
from impact_miner.registry import FetchContext
from impact_miner.team import (
    Limit,
    Member,
    PersonResult,
    SourceLimiter,
    check_row,
    file_stems,
    parse_csv_roster,
    parse_toml_roster,
    read_limits,
    read_roster,
    render_index,
    slug,
)

NOW = datetime.now(UTC).replace(microsecond=0)
DAY = timedelta(days=1)
PEOPLE = [("Ada Lovelace", "ada"), ("Bob Builder", "bob"), ("Cyd Charisse", "cyd"), ("Dan Dare", "dan")]
GH_TOKEN_ENV = "TEAM_TEST_GITHUB_TOKEN"


class SlowGitHub(FakeGitHub):
    """The fake GitHub answering each GraphQL request after ``latency`` seconds."""

    latency = 0.0

    def answer_graphql(self, payload: Any) -> tuple[int, dict[str, str], Any]:
        time.sleep(self.latency)
        return super().answer_graphql(payload)


@dataclass
class Team:
    root: Path
    repo: GitRepo
    github: SlowGitHub
    jira: FakeJira
    config: Path
    roster: Path
    out: Path

    def env(self) -> dict[str, str]:
        return {
            **os.environ,  # isolated by conftest: private HOME and cache, UTC
            "IMPACT_MINER_CONFIG": str(self.config),
            GH_TOKEN_ENV: self.github.token,
        }


def jira_issues() -> list[dict[str, Any]]:
    """Two real Server issues, re-keyed, resolved four days ago and assigned to ada and bob."""
    base = server_catalogue()[0]
    admin = server_user(server_catalogue())
    return [
        resolved(base, NOW - 4 * DAY, key=f"OPS-{n}", assignee={**admin, "name": login, "key": login,
                 "displayName": login.title()}, summary=f"Rotate {login}'s certificates")
        for n, login in enumerate(("ada", "bob"), 1)
    ]  # fmt: skip


ROSTER = """\
[[people]]
name = "Ada Lovelace"
emails = ["ada@x.io"]
github = "ada"
jira = "ada"

[[people]]
name = "Bob Builder"
emails = ["bob@x.io"]
github = "bob"
jira = "bob"

[[people]]
name = "Cyd Charisse"
emails = ["cyd@x.io"]
github = "cyd"

[[people]]
name = "Dan Dare"
emails = ["dan@x.io"]
github = "dan"

[[people]]
name = "Eve Online"
github = "eve"

[people.sources.gh]      # Eve's work is where the lead's token does not reach: her token is revoked
token = "ghp_revoked_token"
"""


@pytest.fixture
def team(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Team]:
    repo = GitRepo.init(tmp_path / "api", remote="git@github.com:acme/api.git", home=tmp_path / "home")
    pulls = []
    for n, (name, login) in enumerate([*PEOPLE, ("Eve Online", "eve")], 1):
        repo.commit(f"Add {login}'s endpoint", {f"{login}/app.py": "x\n"}, author=(name, f"{login}@x.io"),
                    when=NOW - 2 * DAY)  # fmt: skip
        pulls.append(
            pull("acme/api", n, title=f"Ship {login}'s feature", author=login, merged_at=NOW - 3 * DAY)
        )
    with SlowGitHub(pulls) as github, FakeJira.server(jira_issues()) as jira:
        config = tmp_path / "lead.toml"
        config.write_text(
            f'[sources.code]\ntype = "git"\npaths = ["{repo.path}"]\n\n'
            f'[sources.gh]\ntype = "github"\nurl = "{github.url}"\ntoken = "env:{GH_TOKEN_ENV}"\n'
            f'login = "the-lead"\n\n'
            f'[sources.tickets]\ntype = "jira"\nurl = "{jira.url}"\ntoken = "{SERVER_PAT}"\n'
        )
        config.chmod(0o600)
        roster = tmp_path / "team.toml"
        roster.write_text(ROSTER)
        found = Team(tmp_path, repo, github, jira, config, roster, tmp_path / "reports")
        for key, value in found.env().items():
            monkeypatch.setenv(key, value)
        yield found


def statuses(summary: str) -> dict[str, str]:
    """Person → status from the summary table the command prints."""
    found = {}
    for line in summary.splitlines()[2:]:
        parts = line.split("  ")
        cells = [p.strip() for p in parts if p.strip()]
        if len(cells) >= 2 and cells[1] in ("ok", "partial", "failed", "skipped"):
            found[cells[0]] = cells[1]
    return found


def searched_logins(github: FakeGitHub) -> set[str]:
    return {
        term.split(":", 1)[1] for q in github.searches() for term in q.split() if term.startswith("author:")
    }


def test_roster_of_five_one_rejected_token_fails_alone(
    team: Team, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(
        capsys, "team", str(team.roster), "--since", "2w", "--out", str(team.out), "--jobs", "3",
        "--format", "json", "--format", "md",
    )  # fmt: skip
    assert code == 3, err
    expected = {name: "ok" for name, _ in PEOPLE}
    assert statuses(out) == {**expected, "Eve Online": "failed"}
    [eve] = [line for line in out.splitlines() if line.startswith("Eve Online")]
    assert "gh: failed" in eve and "token" in eve, eve
    assert searched_logins(team.github) == {"ada", "bob", "cyd", "dan", "eve"}  # never the lead's own login
    assert team.github.graphql_requests <= 2 * 5

    for name, login in PEOPLE:
        report = json.loads((team.out / f"{slug(name)}.json").read_text())
        assert report["person"]["name"] == name
        ids = {e["id"] for e in report["evidence"]}
        assert f"github:acme/api#{[p[1] for p in PEOPLE].index(login) + 1}" in ids
        # Each report holds only its person's evidence.
        assert all(login in (e["author"] or "").lower() for e in report["evidence"]), report["evidence"]
        tickets = {e["id"] for e in report["evidence"] if e["kind"] == "ticket"}
        assert tickets == (
            {f"jira:OPS-{1 + ['ada', 'bob'].index(login)}"} if login in ("ada", "bob") else set()
        )
        coverage = {c["source"]: c["status"] for c in report["coverage"]}
        assert coverage["code"] == "ok" and coverage["gh"] == "ok"
        assert coverage["tickets"] == ("ok" if login in ("ada", "bob") else "skipped")
    eve = json.loads((team.out / "eve-online.json").read_text())
    assert {c["source"]: c["status"] for c in eve["coverage"]} == {"code": "skipped", "gh": "failed",
                                                                  "tickets": "skipped"}  # fmt: skip

    index = (team.out / "index.md").read_text()
    for name, _ in [*PEOPLE, ("Eve Online", "eve")]:
        assert name in index
    assert "- Ada Lovelace: [JSON](ada-lovelace.json) · [Markdown](ada-lovelace.md)" in index
    lowered = index.lower()
    assert not any(word in lowered for word in ("score", "rank", "items", "statements", "ok", "failed"))
    html = (team.out / "index.html").read_text()
    assert '<a href="ada-lovelace.md">Markdown</a>' in html


def test_kill_half_way_then_rerun_runs_only_the_rest(team: Team, capsys: pytest.CaptureFixture[str]) -> None:
    team.github.latency = 0.3  # each person takes a little while, so the kill lands between people
    args = ["team", str(team.roster), "--since", "2w", "--out", str(team.out), "--jobs", "1"]
    child = subprocess.Popen(
        [sys.executable, "-m", "impact_miner", *args], env=team.env(), stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    manifests = team.out / ".impact-miner"
    try:
        deadline = time.monotonic() + 60
        while len(list(manifests.glob("*.json")) if manifests.exists() else []) < 2:
            assert child.poll() is None, child.stderr.read() if child.stderr else ""
            assert time.monotonic() < deadline
            time.sleep(0.01)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait()
        if child.stderr:
            child.stderr.close()
    done = {json.loads(p.read_text())["name"] for p in manifests.glob("*.json")}
    assert 2 <= len(done) <= 3 and "Eve Online" not in done
    assert not (team.out / "index.md").exists()  # the batch never finished

    team.github.latency = 0.0
    team.github.log.clear()
    code, out, err = run(capsys, *args)
    assert code == 3, err
    found = statuses(out)
    assert {name for name, status in found.items() if status == "skipped"} == done
    assert set(found) == {name for name, _ in PEOPLE} | {"Eve Online"}
    rest = {login for name, login in [*PEOPLE, ("Eve Online", "eve")] if name not in done}
    assert searched_logins(team.github) == rest  # nobody complete was fetched again
    assert all((team.out / f"{slug(name)}.md").exists() for name, _ in PEOPLE)

    team.github.log.clear()
    code, out, _ = run(capsys, *args, "--force")
    assert set(statuses(out).values()) == {"ok", "failed"}
    assert searched_logins(team.github) == {"ada", "bob", "cyd", "dan", "eve"}


def test_malformed_rows_are_reported_by_line_and_the_rest_run(
    team: Team, capsys: pytest.CaptureFixture[str]
) -> None:
    roster = team.root / "team.csv"
    roster.write_text(
        "name,emails,github,jira,repos\n"
        "Ada Lovelace,ada@x.io,ada,ada,\n"
        "\n"
        "# a comment\n"
        ",bob@x.io,bob,,\n"
        "Cyd Charisse,cyd-at-x.io,cyd,,\n"
        "Dan Dare,dan@x.io,dan,,,extra\n"
        "Eve Online,,,,\n"
        'Bob Builder,"bob@x.io;bob@old.io",bob,bob,\n'
    )
    code, out, err = run(capsys, "team", str(roster), "--since", "2w", "--out", str(team.out))
    assert code == 3, err
    assert "roster line 5: no name" in out
    assert "roster line 6: emails: 'cyd-at-x.io' is not an email address" in out
    assert "roster line 7: 6 fields but the header has 5" in out
    assert "roster line 8: no identity" in out
    found = statuses(out)
    assert found["Ada Lovelace"] == "ok" and found["Bob Builder"] == "ok"
    assert (team.out / "bob-builder.md").exists()


def test_a_bad_roster_file_exits_2_with_one_line(team: Team, capsys: pytest.CaptureFixture[str]) -> None:
    bad = team.root / "team.csv"
    bad.write_text("name,email,login\nAda,ada@x.io,ada\n")
    code, _, err = run(capsys, "team", str(bad), "--out", str(team.out))
    assert code == 2
    assert err.startswith("mine: error:") and "team.csv:1: the header must name columns" in err
    assert err.count("\n") == 1
    code, _, err = run(capsys, "team", str(team.root / "missing.toml"), "--out", str(team.out))
    assert code == 2 and "does not exist" in err


# ---- the roster ------------------------------------------------------------------------------------


def test_toml_roster_rows_carry_their_header_line() -> None:
    text = (
        '[[people]]\nname = "Ada"\nemails = ["ada@x.io"]\n\n'
        '[[people]]\nname = "Bob"\nemails = "bob@x.io"\n\n'
        '[[people]]\nname = "Cyd"\ngithub = "-cyd"\n\n'
        '[[people]]\nname = "Dan"\njria = "dan"\n\n'
        '[[people]]\nname = "ada"\nemails = ["ADA@x.io"]\n'
    )
    members, problems = parse_toml_roster(text)
    assert [(m.name, m.line) for m in members] == [("Ada", 1)]
    assert [(p.line, p.message.split(";")[0]) for p in problems] == [
        (5, 'emails must be a list of non-empty strings, e.g. emails = ["…"]'),
        (9, "github: '-cyd' is not a GitHub login (letters, digits, single hyphens)"),
        (13, "unknown key 'jria'"),
        (17, "same person as line 1"),
    ]
    with pytest.raises(UsageError, match="invalid TOML"):
        parse_toml_roster("[[people]\n")
    with pytest.raises(UsageError, match="unknown table 'team'"):
        parse_toml_roster("[team]\nx = 1\n")


def test_csv_roster_lists_and_quoting() -> None:
    members, problems = parse_csv_roster(
        'repos,name,emails\n"~/src/a;~/src/b","O\'Brien, Zoë","zoe@x.io; zoe@y.io"\n'
    )
    assert problems == []
    [zoe] = members
    assert (zoe.name, zoe.emails, zoe.repos, zoe.line) == ("O'Brien, Zoë", ("zoe@x.io", "zoe@y.io"),
                                                          ("~/src/a", "~/src/b"), 2)  # fmt: skip
    with pytest.raises(UsageError, match="no header"):
        parse_csv_roster("\n# nothing\n")


def test_read_roster_rejects_other_formats(tmp_path: Path) -> None:
    path = tmp_path / "team.yaml"
    path.write_text("people: []\n")
    with pytest.raises(UsageError, match=r"use a .toml or .csv"):
        read_roster(path)
    empty = tmp_path / "team.toml"
    empty.write_text("")
    with pytest.raises(UsageError, match="lists nobody"):
        read_roster(empty)


def test_file_names_are_slugs_with_a_hash_only_when_names_collide() -> None:
    ada = Member("Ada Lovelace", 1, ("ada@x.io",))
    other_ada = Member("Ada  Lovelace", 2, ("ada@y.io",))
    zoe = Member("Zoë O'Brien", 3, ("zoe@x.io",))
    index = Member("Index", 4, ("index@x.io",))
    stems = file_stems([ada, other_ada, zoe, index])
    assert stems[zoe] == "zoe-o-brien"
    assert stems[ada].startswith("ada-lovelace-") and stems[other_ada].startswith("ada-lovelace-")
    assert stems[ada] != stems[other_ada]
    assert stems[index].startswith("index-")  # never overwrites index.md
    assert file_stems([ada, other_ada, zoe, index]) == stems  # deterministic
    assert file_stems([zoe])[zoe] == "zoe-o-brien" and slug("李雷") == "person"


def test_check_row_person_and_overrides() -> None:
    member = check_row({"name": " Ada  L ", "github": "ada", "sources": {"gh": {"token": "x"}}}, 3)
    assert isinstance(member, Member)
    assert member.person() == Person(name="Ada L", emails=[], logins={"github": "ada"})
    assert check_row({"name": "Ada", "github": "ada", "sources": {"gh": "x"}}, 3) == (
        "sources must hold one table per source of the config, e.g. [people.sources.gh]"
    )


def test_a_gitlab_username_on_the_roster_is_the_persons_gitlab_identity() -> None:
    member = check_row({"name": "Ada", "gitlab": "ada.l"}, 4)
    assert isinstance(member, Member)
    assert member.person().logins == {"gitlab": "ada.l"}
    assert check_row({"name": "Ada", "gitlab": "ada l"}, 4) == (
        "gitlab: 'ada l' is not a GitLab username (letters, digits, _, - and .)"
    )
    hashed = check_row({"name": "Ada", "github": "ada"}, 5)
    assert isinstance(hashed, Member) and hashed.identity() == Member("Ada", 5, github="ada").identity()


def test_index_escapes_names_and_lists_people_alphabetically() -> None:
    period = TimeRange(NOW - 14 * DAY, NOW, "2w")
    results = [
        PersonResult("<script>alert(1)</script>", 2, "ok", "", "x", ["x.md"]),
        PersonResult("Bob", 1, "failed", "boom", "bob", []),
        PersonResult("Ada", 3, "skipped", "", "ada", ["ada.md", "ada.html"]),
        PersonResult("line 9", 9, "failed", "roster line 9: no name"),
    ]
    markdown, html = render_index(results, period)
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "\\<script\\>" in markdown
    names = [line.split(":")[0] for line in markdown.splitlines() if line.startswith("- ")]
    assert names == ["- \\<script\\>alert(1)\\</script\\>", "- Ada", "- Bob"]
    assert "- Bob: no report" in markdown and "boom" not in markdown and "line 9" not in markdown


# ---- shared limits ---------------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 6))
        self.now += seconds


def test_limiter_paces_requests_and_a_hold_stops_every_worker() -> None:
    clock = FakeClock()
    limiter = SourceLimiter({"gh": Limit(requests_per_second=4)}, clock=clock, sleep=clock.sleep)
    for _ in range(5):
        limiter.wait("gh")
    assert clock.slept == [0.25, 0.25, 0.25, 0.25]
    limiter.hold("gh", 10)
    limiter.wait("gh")
    assert clock.slept[-1] == 10
    limiter.wait("jira")  # other sources are not held
    assert len(clock.slept) == 5 and limiter.waits == 5


def test_limiter_bounds_concurrent_fetches_of_one_source_across_workers() -> None:
    limiter = SourceLimiter({"gh": Limit(concurrency=2)})
    active, peak, lock = [0], [0], threading.Lock()
    inside = threading.Semaphore(0)
    release = threading.Event()

    def worker(source: str, source_type: str) -> None:
        with limiter.slot(source, source_type):
            with lock:
                active[0] += 1
                peak[0] = max(peak[0], active[0])
            inside.release()
            release.wait(5)
            with lock:
                active[0] -= 1

    threads = [threading.Thread(target=worker, args=("gh", "github")) for _ in range(6)]
    for thread in threads:
        thread.start()
    assert inside.acquire(timeout=5) and inside.acquire(timeout=5)
    assert not inside.acquire(timeout=0.2)  # a third fetch waits for a slot
    release.set()
    for thread in threads:
        thread.join()
    assert peak[0] == 2
    git = SourceLimiter()
    assert git.limit("code", "git").concurrency is None and git.limit("gh", "github").concurrency == 4


def test_read_limits(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text("[team.limits.gh]\nconcurrency = 2\nrequests_per_second = 5\n")
    assert read_limits(config) == {"gh": Limit(2, 5.0)}
    config.write_text("[team.limits.gh]\nconcurrency = 0\n")
    with pytest.raises(ConfigError, match="concurrency must be a whole number"):
        read_limits(config)
    config.write_text("[team.limits.gh]\nburst = 3\n")
    with pytest.raises(ConfigError, match="takes concurrency and requests_per_second only"):
        read_limits(config)
    assert read_limits(None) == {}


def test_member_spec_drops_the_leads_identity_and_skips_what_the_row_lacks(team: Team) -> None:
    from impact_miner.runspec import RunOptions, read_config, resolve_run
    from impact_miner.team import Roster, TeamBatch, member_spec

    options = RunOptions(since="2w", config=str(team.config))
    config = read_config(options, os.environ)
    batch = TeamBatch(
        Roster(team.roster, [], []), resolve_run(options, config, now=NOW, env=os.environ), config.sections,
        team.out, env={"EVE_TOKEN": "t0ken"},
    )  # fmt: skip
    cyd = Member(
        "Cyd",
        1,
        ("cyd@x.io",),
        github="cyd",
        repos=("/src/cyd",),
        overrides={"gh": {"token": "env:EVE_TOKEN"}},
    )
    spec = member_spec(batch, cyd)
    sections = {s.name: s for _, s in spec.sources}
    assert sections["code"].options["paths"] == ["/src/cyd"]
    assert "login" not in sections["gh"].options and sections["gh"].options["token"] == "t0ken"
    assert spec.person.logins == {"github": "cyd"}
    [(tickets, section)] = [(c, s) for c, s in spec.sources if s.name == "tickets"]
    report = tickets.fetch(spec.person, spec.time_range, section, FetchContext(now=NOW)).report
    assert (report.status, report.detail) == ("skipped", "no jira user on the roster row")
    with pytest.raises(UsageError, match=r"sources.nope is not a source of the config"):
        member_spec(batch, Member("X", 4, ("x@x.io",), overrides={"nope": {}}))


# ---- interrupts and what a killed batch leaves behind ------------------------------------------------


def slow_batch(tmp_path: Path, server: SlowPrometheus) -> tuple[list[str], dict[str, str]]:
    """``mine team`` arguments and environment: four people, git plus ten slow metrics each."""
    repo = GitRepo.init(tmp_path / "api", home=tmp_path / "home")
    for name, login in PEOPLE:
        repo.commit(f"Add {login}'s endpoint", {f"{login}.py": "x\n"}, author=(name, f"{login}@x.io"),
                    when=NOW - 2 * DAY)  # fmt: skip
    config = tmp_path / "lead.toml"
    config.write_text(f'[sources.code]\ntype = "git"\npaths = ["{repo.path}"]\n' + server.section(10))
    roster = tmp_path / "team.csv"
    roster.write_text("name,emails\n" + "".join(f"{name},{login}@x.io\n" for name, login in PEOPLE))
    args = [
        "team",
        str(roster),
        "--since",
        "2w",
        "--out",
        str(tmp_path / "reports"),
        "--jobs",
        "2",
        "--no-cache",
    ]
    return args, {**os.environ, "IMPACT_MINER_CONFIG": str(config)}  # isolated by conftest


def test_sigterm_stops_the_batch_like_ctrl_c_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    with SlowPrometheus(delay=0.2) as server:
        args, env = slow_batch(tmp_path, server)
        child = subprocess.Popen(
            [sys.executable, "-m", "impact_miner", *args], env=env, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        server.wait_for(3)
        stopped = time.monotonic()
        child.send_signal(signal.SIGTERM)
        out, err = child.communicate(timeout=60)
    assert child.returncode == 143, err
    assert out == ""  # no summary: the batch did not finish
    assert err.strip().splitlines()[-1] == "mine: terminated" and "Traceback" not in err
    assert server.after(stopped) <= 2, f"{server.after(stopped)} requests after SIGTERM"  # one per worker
    reports = tmp_path / "reports"
    assert not [p for p in reports.rglob("*") if p.name.endswith(".tmp")]
    assert not (reports / "index.md").exists()
    for report in reports.glob("*.md"):  # whoever finished is complete, with a manifest
        assert (reports / ".impact-miner" / f"{report.stem}.json").exists()


STALE = (
    ".ada-lovelace.md.0badc0de.tmp",
    ".impact-miner/.ada-lovelace.json.1234abcd.tmp",
    ".index.html.00ff00ff.tmp",
)
NOT_OURS = ("notes.tmp", ".ada-lovelace.md.draft", ".impact-miner/.keep.tmp")


def stale_batch(tmp_path: Path) -> tuple[list[str], Path]:
    """A git-only batch for Ada whose output directory holds what a killed batch left there."""
    repo = GitRepo.init(tmp_path / "api", home=tmp_path / "home")
    repo.commit("Add search", {"s.py": "x\n"}, author=("Ada Lovelace", "ada@x.io"), when=NOW - 2 * DAY)
    config = tmp_path / "lead.toml"
    config.write_text(f'[sources.code]\ntype = "git"\npaths = ["{repo.path}"]\n')
    roster = tmp_path / "team.csv"
    roster.write_text("name,emails\nAda Lovelace,ada@x.io\n")
    out = tmp_path / "reports"
    (out / ".impact-miner").mkdir(parents=True)
    for name in (*STALE, *NOT_OURS):
        (out / name).write_text("half a report")
    return ["team", str(roster), "--since", "2w", "--out", str(out), "--config", str(config)], out


def test_a_later_batch_removes_the_temporary_files_a_killed_one_left(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args, out = stale_batch(tmp_path)
    code, _, err = run(capsys, *args)
    assert code == 0, err
    assert [name for name in STALE if (out / name).exists()] == []
    assert [name for name in NOT_OURS if (out / name).exists()] == list(NOT_OURS)
    assert (out / "ada-lovelace.md").exists()


def test_a_second_batch_into_the_same_directory_is_refused_and_touches_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import fcntl

    args, out = stale_batch(tmp_path)
    with open(out / ".impact-miner" / "lock", "a") as held:  # as a running batch holds it
        fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        code, _, err = run(capsys, *args)
    assert code == 2
    assert err.startswith(f"mine: error: another `mine team` is writing to {out}; wait for it to finish")
    assert all((out / name).exists() for name in STALE)  # they may be the running batch's
    assert not (out / "ada-lovelace.md").exists()
