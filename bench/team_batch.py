"""A 20-person `mine team` batch against loopback GitHub and Jira with 100 ms latency, at --jobs 1, 4, 8.

    python bench/team_batch.py [--people 20] [--latency 0.1]

Builds one real git repository with commits by every person, the fake GitHub of the tests (every
GraphQL request answered after ``--latency`` seconds, schema validation included) with five merged
pull requests per person, and the fake Jira Server (every search answered after ``--latency``) with
three resolved tickets per person. Then runs the batch library (``impact_miner.team.run_team``, no
cache, Markdown out) at each ``--jobs``, with the default shared limit of 4 concurrent fetches per
HTTP source and, for comparison, with that limit raised to 8. Prints wall time, the speedup over
--jobs 1, and requests per person beside the minimum the connectors document (one GitHub search
request and one Jira search page for this little data).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fake_github import FakeGitHub, pull
from fake_jira import SERVER_PAT, FakeJira, resolved, server_catalogue, server_user
from gitrepo import GitRepo, git_env
from impact_miner.runspec import RunOptions, read_config, resolve_run
from impact_miner.team import Limit, Member, Roster, SourceLimiter, TeamBatch, run_team

NOW = datetime.now(UTC).replace(microsecond=0)
DAY = timedelta(days=1)


class LatentGitHub(FakeGitHub):
    latency = 0.1

    def answer_graphql(self, payload: Any) -> tuple[int, dict[str, str], Any]:
        time.sleep(self.latency)
        return super().answer_graphql(payload)


def build(root: Path, people: int) -> tuple[GitRepo, list[Member], list[Any], list[dict[str, Any]]]:
    repo = GitRepo.init(root / "api", remote="git@github.com:acme/api.git", home=root / "home")
    admin = server_user(server_catalogue())
    base = server_catalogue()[0]
    members, pulls, issues = [], [], []
    for n in range(people):
        login = f"dev{n:02d}"
        for k in range(3):
            repo.commit(f"Improve {login} module part {k}", {f"{login}/m{k}.py": f"{k}\n"},
                        author=(login.title(), f"{login}@acme.io"), when=NOW - (2 + k) * DAY)  # fmt: skip
            issues.append(resolved(base, NOW - (3 + k) * DAY, key=f"OPS-{n * 3 + k + 1}",
                                   assignee={**admin, "name": login, "key": login}))  # fmt: skip
        for k in range(5):
            number = n * 5 + k + 1
            pulls.append(pull("acme/api", number, title=f"Ship {login} change {k}", author=login,
                              merged_at=NOW - (1 + k) * DAY))  # fmt: skip
        members.append(Member(f"Developer {n:02d}", n + 1, (f"{login}@acme.io",), github=login, jira=login))
    return repo, members, pulls, issues


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--people", type=int, default=20)
    parser.add_argument("--latency", type=float, default=0.1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.environ.update(git_env(root / "home"))
        repo, members, pulls, issues = build(root, args.people)
        with LatentGitHub(pulls) as github, FakeJira.server(issues) as jira:
            github.latency = args.latency
            jira.fail("/search", None, delay=args.latency, times=10**9)  # every search answers late
            config = root / "lead.toml"
            config.write_text(
                f'[sources.code]\ntype = "git"\npaths = ["{repo.path}"]\n'
                f'[sources.gh]\ntype = "github"\nurl = "{github.url}"\ntoken = "{github.token}"\n'
                f'[sources.tickets]\ntype = "jira"\nurl = "{jira.url}"\ntoken = "{SERVER_PAT}"\n'
            )
            config.chmod(0o600)
            options = RunOptions(since="2w", config=str(config), use_cache=False)
            loaded = read_config(options, os.environ)
            base = resolve_run(options, loaded, now=NOW, env=os.environ)
            print(f"{args.people} people, {args.latency * 1000:.0f} ms per GitHub/Jira request, no cache\n")
            print(f"{'jobs':>4}  {'limit/source':>12}  {'wall s':>7}  {'speedup':>7}  "
                  f"{'GitHub req/person':>17}  {'Jira req/person':>15}  {'minimum':>7}  ok")  # fmt: skip
            first = None
            for jobs, limit in ((1, 4), (4, 4), (8, 4), (8, 8)):
                github.log.clear()
                jira.requests.clear()
                limits = {"gh": Limit(limit), "tickets": Limit(limit)}
                out = root / f"out-{jobs}-{limit}"
                roster = Roster(root / "team.toml", members, [])
                limiter = SourceLimiter(limits)
                batch = TeamBatch(roster, base, loaded.sections, out, ("markdown",), jobs, True, limiter)
                start = time.perf_counter()
                result = run_team(batch)
                wall = time.perf_counter() - start
                first = first or wall
                ok = sum(1 for r in result.results if r.status == "ok")
                gh = github.graphql_requests / args.people
                tickets = len(jira.searches()) / args.people
                print(f"{jobs:>4}  {limit:>12}  {wall:>7.2f}  {first / wall:>6.1f}x  {gh:>17.2f}  "
                      f"{tickets:>15.2f}  {'1 + 1':>7}  {ok}/{args.people}")  # fmt: skip


if __name__ == "__main__":
    main()
