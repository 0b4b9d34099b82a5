"""The git connector against real temporary repositories with fixed dates."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import git.cmd
import pytest

from gitrepo import ADA, BOB, DEPENDABOT, GitRepo
from impact_miner.connectors import git as gitconn
from impact_miner.connectors.git import commit_url, repo_name_from_remote
from impact_miner.errors import SourceError, UsageError
from impact_miner.model import Person, SourceSection, TimeRange
from isolation import Isolated

SINCE = datetime(2024, 3, 1, tzinfo=UTC)
UNTIL = datetime(2024, 4, 1, tzinfo=UTC)
RANGE = TimeRange(SINCE, UNTIL, "2024-03")
SECOND = timedelta(seconds=1)
CEST = timezone(timedelta(hours=2))
ADA_OLD = ("Ada L.", "ada@old.io")
ADA_NOREPLY = ("Ada Lovelace", "12345+ada-l@users.noreply.github.com")
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))


@dataclass
class Api:
    """The shas of the `api` repository, by role."""

    repo: GitRepo
    shas: dict[str, str]


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Api:
    """acme/api (ssh remote): edges of the range, a bot, a merge, a .mailmap alias, noreply, binary."""
    repo = GitRepo.init(tmp_path_factory.mktemp("api") / "api", remote="git@github.com:acme/api.git")
    day = timedelta(days=1)
    s: dict[str, str] = {}
    s["before"] = repo.commit(
        "Initial layout",
        {".mailmap": "Ada Lovelace <ada@x.io> <ada@old.io>\n", "README.md": "# api\n"},
        when=SINCE - SECOND,
    )
    s["at_since"] = repo.commit(
        "Add search index (SEARCH-88)",
        {"src/search/index.py": "".join(f"line {i}\n" for i in range(10))},
        when=SINCE,
    )
    s["bot"] = repo.commit(
        "Bump requests from 2.31.0 to 2.32.0", {"requirements.txt": "requests==2.32.0\n"},
        author=DEPENDABOT, when=SINCE + day,
    )  # fmt: skip
    s["bob"] = repo.commit("Fix typo in docs", {"docs/guide.md": "Guide\n"}, author=BOB, when=SINCE + 2 * day)
    s["old_email"] = repo.commit(
        "Speed up search merges SEARCH-88\n\nMoves index merges off the request path.\n\nRefs #7",
        {"src/search/merge.py": "a\nb\nc\n"},
        author=ADA_OLD,
        when=(SINCE + 3 * day).astimezone(CEST),
    )
    s["noreply"] = repo.commit(
        "Update README (#123)",
        {"README.md": "# api\n\nSearch API.\n"},
        author=ADA_NOREPLY,
        when=SINCE + 4 * day,
    )
    s["binary"] = repo.commit(
        "Add logo",
        {"assets/logo.png": PNG, "src/search/index.py": "line 0\nline 1\nline 2\nline 3\nline 4\n"
         "line 5\nline 6\nline 7\nline 8\nchanged\nadded\n"},
        when=SINCE + 5 * day,
    )  # fmt: skip
    s["late"] = repo.commit(
        "Authored in range, landed after", {"late.txt": "x\n"}, when=SINCE + 6 * day, committer_when=UNTIL
    )
    s["early"] = repo.commit(
        "Authored before, landed in range",
        {"early.txt": "x\n"},
        when=SINCE - 10 * day,
        committer_when=SINCE + 7 * day,
    )
    repo.checkout("feature", create=True)
    s["feature"] = repo.commit("Add ranking (SEARCH-90)", {"src/rank.py": "r = 1\n"}, when=SINCE + 8 * day)
    repo.checkout("main")
    s["merge"] = repo.merge("feature", "Merge pull request #42 from acme/feature", when=SINCE + 9 * day)
    s["before_until"] = repo.commit("Tune ranking weights", {"src/rank.py": "r = 2\n"}, when=UNTIL - SECOND)
    s["at_until"] = repo.commit("Start April work", {"src/april.py": "x\n"}, when=UNTIL)
    return Api(repo, s)


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Api:
    """acme/platform/web on GitLab (https remote with user and .git)."""
    repo = GitRepo.init(
        tmp_path_factory.mktemp("web") / "web", remote="https://ci@gitlab.com/acme/platform/web.git"
    )
    s = {
        "login": repo.commit(
            "Add login page (WEB-7)", {"web/login.tsx": "1\n2\n"}, when=SINCE + timedelta(1)
        ),
        "fix": repo.commit(
            "Fix login redirect\n\nWEB-7", {"web/login.tsx": "1\n3\n"}, when=SINCE + timedelta(2)
        ),
        "bob": repo.commit("Style footer", {"web/footer.css": "a\n"}, author=BOB, when=SINCE + timedelta(3)),
    }
    return Api(repo, s)


def section(*paths: Path | str, **options: Any) -> SourceSection:
    return SourceSection(name="code", type="git", options={"paths": [str(p) for p in paths], **options})


def ada() -> Person:
    return Person(name="Ada", emails=["ADA@x.io"], logins={"github": "ada-l"})


# ---- membership, identity, exclusions ----------------------------------------------------------------


def test_fetch_selects_the_persons_commits_that_landed_in_range(api: Api) -> None:
    result = gitconn.fetch(ada(), RANGE, section(api.repo.path))
    s = api.shas
    assert [e.id for e in result.evidence] == [
        f"git:acme/api@{s[k]}"
        for k in ("before_until", "feature", "early", "binary", "noreply", "old_email", "at_since")
    ]
    assert result.report.status == "ok"
    assert result.report.items == 7
    assert result.report.source == "code"
    assert result.report.type == "git"
    assert result.report.detail == (
        "9 commits landed in range, 7 by the person; excluded 1 merge of their own or long-lived branches "
        "and 1 bot commit; identities: ADA@x.io, ada-l@users.noreply.github.com, "
        "ID+ada-l@users.noreply.github.com"
    )
    assert result.identities == [
        "ADA@x.io",
        "ada-l@users.noreply.github.com",
        "ID+ada-l@users.noreply.github.com",
    ]


def test_evidence_fields(api: Api) -> None:
    by_id = {e.id: e for e in gitconn.fetch(ada(), RANGE, section(api.repo.path)).evidence}
    sha = api.shas["old_email"]
    e = by_id[f"git:acme/api@{sha}"]
    assert e.source == "git"
    assert e.kind == "commit"
    assert e.title == "Speed up search merges SEARCH-88"
    assert e.body == "Moves index merges off the request path.\n\nRefs #7"
    assert e.author == "Ada Lovelace <ada@x.io>"  # mailmapped
    assert e.repo == "acme/api"
    assert e.url == f"https://github.com/acme/api/commit/{sha}"
    assert e.completed_at == SINCE + timedelta(days=3)
    assert e.completed_at.utcoffset() == timedelta(hours=2)
    assert e.created_at == e.completed_at
    assert e.refs == ["acme/api#7", "SEARCH-88"]
    assert (e.additions, e.deletions, e.files) == (3, 0, 1)
    assert e.extra == {"sha": sha, "paths": ["src/search/merge.py"], "top_dir": "src", "source_name": "code"}

    noreply = by_id[f"git:acme/api@{api.shas['noreply']}"]
    assert noreply.refs == ["acme/api#123"]
    assert noreply.author == "Ada Lovelace <12345+ada-l@users.noreply.github.com>"
    assert (noreply.additions, noreply.deletions, noreply.files, noreply.extra["top_dir"]) == (2, 0, 1, "")

    binary = by_id[f"git:acme/api@{api.shas['binary']}"]
    assert (binary.additions, binary.deletions, binary.files) == (2, 1, 2)
    assert binary.extra["paths"] == ["src/search/index.py", "assets/logo.png"]
    assert binary.extra["top_dir"] == "src"

    early = by_id[f"git:acme/api@{api.shas['early']}"]
    assert early.created_at == SINCE - timedelta(days=10)
    assert early.completed_at == SINCE + timedelta(days=7)
    assert by_id[f"git:acme/api@{api.shas['at_since']}"].refs == ["SEARCH-88"]


def test_old_email_in_person_is_mailmapped_and_names_match(api: Api) -> None:
    result = gitconn.fetch(Person(emails=["ada@old.io"]), RANGE, section(api.repo.path))
    assert result.identities == ["ada@old.io", "ada@x.io"]
    assert {e.extra["sha"] for e in result.evidence} == {
        api.shas[k] for k in ("before_until", "feature", "early", "binary", "old_email", "at_since")
    }
    by_name = gitconn.fetch(Person(names=["bob builder"]), RANGE, section(api.repo.path))
    assert [e.extra["sha"] for e in by_name.evidence] == [api.shas["bob"]]
    assert by_name.identities == ["bob builder"]


def test_include_merges_and_bots(api: Api) -> None:
    result = gitconn.fetch(ada(), RANGE, section(api.repo.path, include_merges=True, include_bots=True))
    merge = next(e for e in result.evidence if e.extra["sha"] == api.shas["merge"])
    assert merge.title == "Merge pull request #42 from acme/feature"
    assert merge.refs == ["acme/api#42"]
    assert (merge.additions, merge.deletions, merge.files) == (0, 0, 0)
    assert result.report.detail.startswith("9 commits landed in range, 7 by the person, 1 merge included;")
    bot = gitconn.fetch(Person(emails=[DEPENDABOT[1]]), RANGE, section(api.repo.path, include_bots=True))
    assert [e.extra["sha"] for e in bot.evidence] == [api.shas["bot"]]
    assert gitconn.fetch(Person(emails=[DEPENDABOT[1]]), RANGE, section(api.repo.path)).evidence == []


def test_user_email_is_the_default_identity(tmp_path: Path) -> None:
    repo = GitRepo.init(tmp_path / "solo", user_email="ada@old.io")
    repo.commit("Mailmap", {".mailmap": "Ada Lovelace <ada@x.io> <ada@old.io>\n"}, author=BOB, when=SINCE)
    mine = repo.commit("Mine", {"a.txt": "a\n"}, when=SINCE + SECOND)
    result = gitconn.fetch(Person(), RANGE, section(repo.path))
    assert [e.id for e in result.evidence] == [f"git:solo@{mine}"]
    assert result.evidence[0].url == f"solo@{mine}"  # no remote
    assert result.identities == ["ada@old.io", "ada@x.io"]


def test_no_identity_at_all_is_a_usage_error(tmp_path: Path) -> None:
    repo = GitRepo.init(tmp_path / "solo")
    repo.commit("One", {"a.txt": "a\n"}, when=SINCE)
    with pytest.raises(UsageError, match=r"pass --author EMAIL or set emails in \[me\]"):
        gitconn.fetch(Person(), RANGE, section(repo.path))


# ---- several repositories, urls, process count --------------------------------------------------------


def test_two_repositories_three_git_logs_each(api: Api, web: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """Per repository: check-mailmap, the first-parent walk, one pass without diffs, and --numstat of
    the person's commits only; no process for tags when there are none."""
    commands: list[list[str]] = []
    execute = git.cmd.Git.execute

    def counting(self: git.cmd.Git, command: Any, *args: Any, **kwargs: Any) -> Any:
        commands.append([str(c) for c in command])
        return execute(self, command, *args, **kwargs)

    spawned: list[Any] = []
    popen = git.cmd.safer_popen

    def counting_popen(*args: Any, **kwargs: Any) -> Any:
        spawned.append(args[0])
        return popen(*args, **kwargs)

    monkeypatch.setattr(git.cmd.Git, "execute", counting)
    monkeypatch.setattr(git.cmd, "safer_popen", counting_popen)
    result = gitconn.fetch(ada(), RANGE, section(api.repo.path, web.repo.path))
    assert [c[1] for c in commands] == ["check-mailmap", "log", "log", "log"] * 2
    assert len(spawned) == 8

    web_ids = [e.id for e in result.evidence if e.repo == "acme/platform/web"]
    assert web_ids == [f"git:acme/platform/web@{web.shas[k]}" for k in ("fix", "login")]
    fix = result.evidence[-2]
    assert fix.url == f"https://gitlab.com/acme/platform/web/-/commit/{web.shas['fix']}"
    assert fix.refs == ["WEB-7"]
    assert fix.extra["top_dir"] == "web"
    assert (fix.additions, fix.deletions) == (1, 1)
    assert result.report.items == 9
    assert result.report.detail == (
        "acme/api: 9 commits landed in range, 7 by the person; excluded 1 merge of their own or long-lived "
        "branches and 1 bot commit; acme/platform/web: 3 commits landed in range, 2 by the person; excluded "
        "0 merges of their own or long-lived branches and 0 bot commits; "
        "identities: ADA@x.io, ada-l@users.noreply.github.com, ID+ada-l@users.noreply.github.com"
    )


def test_web_url_option(api: Api) -> None:
    opts = {"web_url": "https://git.example.com/acme/api/"}
    result = gitconn.fetch(ada(), RANGE, section(api.repo.path, **opts))
    assert result.evidence[0].url == f"https://git.example.com/acme/api/commit/{api.shas['before_until']}"


def test_revs_option(api: Api) -> None:
    result = gitconn.fetch(ada(), RANGE, section(api.repo.path, revs="feature"))
    assert [e.extra["sha"] for e in result.evidence] == [
        api.shas[k] for k in ("feature", "early", "binary", "noreply", "old_email", "at_since")
    ]


def test_default_path_is_the_repository_around_the_cwd(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(api.repo.path / "src" / "search")
    gitconn.check(gitconn.implicit())
    result = gitconn.fetch(ada(), RANGE, gitconn.implicit())
    assert result.report.source == "git"
    assert result.report.items == 7
    assert result.evidence[0].extra["source_name"] == "git"


def test_connector_is_registered() -> None:
    from impact_miner.registry import available

    connector = available()["git"]
    assert connector is gitconn.connector
    assert connector.implicit is not None
    assert connector.implicit() == SourceSection(name="git", type="git", options={}, implicit=True)


# ---- check: paths ------------------------------------------------------------------------------------


def test_check_rejects_a_path_that_is_not_a_repository(tmp_path: Path) -> None:
    (tmp_path / "plain").mkdir()
    for path in (tmp_path / "plain", tmp_path / "missing"):
        with pytest.raises(UsageError) as raised:
            gitconn.check(section(path))
        assert str(raised.value) == (
            f"{path} is not a git repository; pass --repo with a repository path or fix sources.code.paths"
        )


def test_check_rejects_an_empty_repository(tmp_path: Path) -> None:
    GitRepo.init(tmp_path / "empty")
    with pytest.raises(UsageError, match="is a git repository with no commits yet"):
        gitconn.check(section(tmp_path / "empty"))
    with pytest.raises(UsageError, match="no commits yet"):
        gitconn.fetch(ada(), RANGE, section(tmp_path / "empty"))


def test_check_rejects_the_cwd_outside_any_repository(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(
        UsageError, match=r"^the current directory \(.*\) is not a git repository; pass --repo"
    ):
        gitconn.check(gitconn.implicit())


def test_globs_skip_non_repositories_and_empty_ones(tmp_path: Path) -> None:
    (tmp_path / "src" / "notes").mkdir(parents=True)
    GitRepo.init(tmp_path / "src" / "empty")
    one = GitRepo.init(tmp_path / "src" / "one")
    sha = one.commit("Work", {"a.txt": "a\n"}, when=SINCE)
    gitconn.check(section(tmp_path / "src" / "*", tmp_path / "src" / "one"))
    result = gitconn.fetch(ada(), RANGE, section(tmp_path / "src" / "*", tmp_path / "src" / "one"))
    assert [e.id for e in result.evidence] == [f"git:one@{sha}"]  # deduplicated
    assert not result.report.detail.startswith("one:")
    with pytest.raises(UsageError, match=r"matches no git repository with commits; pass --repo"):
        gitconn.check(section(tmp_path / "src" / "n*"))


def test_tilde_is_expanded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = GitRepo.init(tmp_path / "home" / "api")
    repo.commit("Work", {"a.txt": "a\n"}, when=SINCE)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    gitconn.check(section("~/api"))
    gitconn.check(section("~/a*"))


def test_long_bodies_are_trimmed_and_renames_resolved(tmp_path: Path) -> None:
    repo = GitRepo.init(tmp_path / "r")
    repo.commit("Add", {"src/old/a.py": "".join(f"line {i}\n" for i in range(40))}, when=SINCE)
    repo.git("mv", "src/old", "src/new")
    sha = repo.commit("Move\n\n" + "x" * 5000, {"src/new/a.py": "".join(f"line {i}\n" for i in range(41))},
                      when=SINCE + SECOND)  # fmt: skip
    e = next(e for e in gitconn.fetch(ada(), RANGE, section(repo.path)).evidence if e.extra["sha"] == sha)
    assert len(e.body) == 4000
    assert e.body.endswith("…")
    assert e.extra["paths"] == ["src/new/a.py"]
    assert (e.additions, e.deletions, e.files) == (1, 0, 1)


# ---- pure functions ----------------------------------------------------------------------------------

SHA = "0123456789abcdef0123456789abcdef01234567"


@pytest.mark.parametrize(
    ("remote", "name", "url"),
    [
        ("https://github.com/acme/api.git", "acme/api", "https://github.com/acme/api/commit/"),
        ("https://github.com/acme/api", "acme/api", "https://github.com/acme/api/commit/"),
        (
            "https://x-token:s3cret@github.com/acme/api.git/",
            "acme/api",
            "https://github.com/acme/api/commit/",
        ),
        ("git@github.com:acme/api.git", "acme/api", "https://github.com/acme/api/commit/"),
        ("ssh://git@ssh.github.com:443/acme/api.git", "acme/api", "https://github.com/acme/api/commit/"),
        ("git@gitlab.com:g/sub/r.git", "g/sub/r", "https://gitlab.com/g/sub/r/-/commit/"),
        ("https://gitlab.com/g/sub/r.git", "g/sub/r", "https://gitlab.com/g/sub/r/-/commit/"),
        ("ssh://git@gitlab.acme.io:2222/g/r.git", "g/r", "https://gitlab.acme.io/g/r/-/commit/"),
        ("https://me@bitbucket.org/o/r.git", "o/r", "https://bitbucket.org/o/r/commits/"),
        ("git@bitbucket.org:o/r.git", "o/r", "https://bitbucket.org/o/r/commits/"),
        ("https://codeberg.org/o/r.git", "o/r", "https://codeberg.org/o/r/commit/"),
        ("ssh://git@gitea.acme.io:2222/o/r.git", "o/r", "https://gitea.acme.io/o/r/commit/"),
        ("https://git.acme.io:8443/o/r", "o/r", "https://git.acme.io:8443/o/r/commit/"),
        ("http://git.local/o/r.git", "o/r", "http://git.local/o/r/commit/"),
    ],
)
def test_commit_urls(remote: str, name: str, url: str) -> None:
    assert repo_name_from_remote(remote) == name
    assert commit_url(remote, name, SHA) == url + SHA


@pytest.mark.parametrize(
    "remote", ["/srv/git/api.git", "../api", "file:///srv/git/api.git", "C:\\repos\\api"]
)
def test_local_remotes_have_no_web_url(remote: str) -> None:
    assert repo_name_from_remote(remote) is None
    assert commit_url(remote, "api", SHA) == f"api@{SHA}"
    assert commit_url(None, "api", SHA) == f"api@{SHA}"


@pytest.mark.parametrize(
    ("numstat", "path"),
    [
        ("src/{old => new}/a.py", "src/new/a.py"),
        ("src/{ => sub}/a.py", "src/sub/a.py"),
        ("src/{sub => }/a.py", "src/a.py"),
        ("a.txt => b.txt", "b.txt"),
        ('"we\\tird"', "we\tird"),
        ('"caf\\303\\251.txt"', "café.txt"),
    ],
)
def test_numstat_paths(numstat: str, path: str) -> None:
    assert gitconn._clean_path(numstat) == path


def test_a_failing_git_log_fails_the_source_or_marks_it_partial(api: Api, web: Api) -> None:
    with pytest.raises(SourceError, match=r"^acme/api: git failed: fatal: bad revision 'nope'$"):
        gitconn.fetch(ada(), RANGE, section(api.repo.path, revs="nope"))
    result = gitconn.fetch(ada(), RANGE, section(api.repo.path, web.repo.path, revs="feature"))
    assert result.report.status == "partial"
    assert result.report.items == 6
    assert "acme/platform/web: git failed: fatal: bad revision 'feature'" in result.report.detail


def test_user_config_does_not_change_the_output(api: Api, isolated: Isolated) -> None:
    expected = gitconn.fetch(ada(), RANGE, section(api.repo.path))
    (isolated.home / ".gitconfig").write_text(
        "[log]\n\tshowSignature = true\n\tdecorate = full\n[color]\n\tui = always\n"
        "[i18n]\n\tlogOutputEncoding = ISO-8859-1\n[core]\n\tquotePath = false\n"
    )
    assert gitconn.fetch(ada(), RANGE, section(api.repo.path)) == expected


def test_a_commit_behind_a_descendant_with_a_skewed_older_date_is_still_found(tmp_path: Path) -> None:
    """git's --since stops at the first too-old commit; the connector's wider walk gets past skew."""
    repo = GitRepo.init(tmp_path / "skew", remote="https://github.com/acme/skew.git")
    repo.commit("Start", {"a.txt": "0\n"}, author=ADA, when=SINCE - timedelta(days=30))
    in_range = repo.commit("Ship the feature", {"a.txt": "1\n"}, author=ADA, when=SINCE + timedelta(hours=1))
    # a rebase by someone with a wrong clock: the child claims it landed three days before the range
    repo.commit(
        "Tidy",
        {"b.txt": "2\n"},
        author=BOB,
        when=SINCE - timedelta(days=3),
        committer_when=SINCE - timedelta(days=3),
    )
    result = gitconn.fetch(ada(), RANGE, section(repo.path))
    assert [e.extra["sha"] for e in result.evidence] == [in_range]
