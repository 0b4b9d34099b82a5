"""How long `mine --help` takes, and which heavy modules it imports (none should be).

Compares against `python -c pass` (the interpreter's own floor) over several runs and prints medians.
Usage: python bench/startup.py [--runs 15]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

HEAVY = ("pandas", "litellm", "git", "github", "jira", "requests", "numpy", "jinja2")


def median_seconds(command: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def imported_heavy_modules() -> list[str]:
    probe = (
        "import contextlib, io, sys\nfrom impact_miner.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    main(['--help'])\n"
        f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True)
    return done.stdout.split()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    runs = parser.parse_args().runs
    floor = median_seconds([sys.executable, "-c", "pass"], runs)
    help_time = median_seconds([sys.executable, "-m", "impact_miner", "--help"], runs)
    print(f"python -c pass      median {floor * 1000:7.1f} ms  ({runs} runs)")
    print(f"mine --help         median {help_time * 1000:7.1f} ms  (target <= 300 ms)")
    print(f"overhead over python: {(help_time - floor) * 1000:.1f} ms")
    heavy = imported_heavy_modules()
    print(f"heavy modules imported by --help: {', '.join(heavy) or 'none'}")


if __name__ == "__main__":
    main()
