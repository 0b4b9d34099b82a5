"""LLM writer: wall time at concurrency 1, 4 and 8, and prompt tokens per project against evidence size.

    python bench/llm_concurrency.py [--projects 20] [--latency 0.3] [--concurrency 1 4 8]

Part 1 writes ``--projects`` projects through litellm against the loopback OpenAI-compatible server
(tests/fake_openai.py) answering every request after ``--latency`` seconds, with no cache, at each
concurrency. Reference: the ideal wall time ⌈projects / concurrency⌉ × latency (perfect overlap, zero
overhead), and the speed-up over concurrency 1 next to the ideal one.

Part 2 renders the prompt (``prompt_requests``, nothing sent) for projects of growing evidence — N
commits, each with a 300-character body — under the default token budget (3,000 evidence tokens) and
prints the prompt tokens (tiktoken cl100k_base via litellm.token_counter) against the evidence size,
with how many items the budget kept.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fake_openai import FakeOpenAI
from impact_miner.llm_writer import LLMOptions, prompt_requests, write_with_model
from impact_miner.model import Evidence, Project
from impact_miner.pipeline import write_statements

DAY = datetime(2026, 11, 2, 9, tzinfo=UTC)
BODY = (
    "Moves the merge of index segments to a background worker so that queries never wait for it; "
    "adds a bounded queue and a metric for its depth. Follow-up to the latency investigation. "
)


def world(projects: int, commits_each: int, body: str = BODY) -> tuple[list[Project], list[Evidence]]:
    """``projects`` projects of ``commits_each`` commits each, one repository per project."""
    evidence: list[Evidence] = []
    found: list[Project] = []
    for p in range(projects):
        repo = f"acme/service-{p}"
        ids = []
        for c in range(commits_each):
            sha = f"{p:04x}{c:04x}".ljust(40, "0")
            item = Evidence(
                f"git:{repo}@{sha}", "git", "commit", f"Improve part {c} of service {p}",
                f"https://github.com/{repo}/commit/{sha}", DAY + timedelta(hours=c), body=body,
                repo=repo, additions=10 + c, deletions=c, files=1 + c % 3, extra={"sha": sha},
            )  # fmt: skip
            evidence.append(item)
            ids.append(item.id)
        found.append(Project(f"service-{p}", f"Service {p} improvements", ids, repos=[repo]))
    return found, evidence


def wall_times(projects: int, latency: float, levels: list[int]) -> None:
    found, evidence = world(projects, 3)
    offline = write_statements(found, evidence)
    print(f"Part 1: {projects} projects, server latency {latency * 1000:.0f} ms, no cache")
    columns = ("concurrency", "requests", "verified", "wall s", "ideal s", "speed-up", "ideal")
    print(" ".join(f"{c:>{w}}" for c, w in zip(columns, (11, 8, 8, 7, 7, 8, 6), strict=True)))
    base = 0.0
    with FakeOpenAI(latency=latency) as server:
        write_with_model(
            offline[:1], evidence, LLMOptions(model="openai/any", api_base=server.api_base), env={}
        )
        for level in levels:
            before = server.calls
            options = LLMOptions(model="openai/any", api_base=server.api_base, concurrency=level, timeout=30)
            start = time.perf_counter()
            written, _ = write_with_model(offline, evidence, options, env={})
            wall = time.perf_counter() - start
            base = base or wall
            ideal = math.ceil(projects / level) * latency
            ideal_speedup = math.ceil(projects / levels[0]) / math.ceil(projects / level)
            verified = sum(p.verified for p in written)
            print(
                f"{level:>11} {server.calls - before:>8} {verified:>8} {wall:>7.2f} {ideal:>7.2f} "
                f"{base / wall:>7.2f}× {ideal_speedup:>5.2f}×"
            )


def prompt_sizes(sizes: list[int]) -> None:
    print("\nPart 2: prompt tokens per project against evidence size (token_budget 3000, default framework)")
    columns = ("commits", "evidence chars", "shown", "omitted", "evidence tok", "prompt tok")
    print(" ".join(f"{c:>{w}}" for c, w in zip(columns, (7, 14, 5, 7, 12, 10), strict=True)))
    for size in sizes:
        found, evidence = world(1, size)
        [request] = prompt_requests(
            found, evidence, LLMOptions(model="openai/any", api_base="http://127.0.0.1:9/v1")
        )
        chars = sum(len(e.title) + len(e.body) + len(e.url) + len(e.id) for e in evidence)
        print(
            f"{size:>7} {chars:>14,} {request['evidence_shown']:>5} {request['evidence_omitted']:>7} "
            f"{request['evidence_tokens']:>12,} {request['prompt_tokens']:>10,}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--projects", type=int, default=20)
    parser.add_argument("--latency", type=float, default=0.3)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 5, 10, 20, 40, 80, 160])
    args = parser.parse_args()
    wall_times(args.projects, args.latency, args.concurrency)
    prompt_sizes(args.sizes)


if __name__ == "__main__":
    main()
