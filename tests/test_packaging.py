"""`pip install .` and `pip install -e .` in fresh virtual environments put connectors/ and prompts/
inside the package and register the built-in connectors through the entry-point group."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROBE = """
import importlib.metadata as md, importlib.resources as res, json
import impact_miner.connectors, impact_miner.prompts
print(json.dumps({
    "connectors_file": impact_miner.connectors.__file__,
    "git_module": res.files("impact_miner.connectors").joinpath("git.py").is_file(),
    "prompts_readme": res.files("impact_miner.prompts").joinpath("README.md").is_file(),
    "templates": sorted(p.name for p in res.files("impact_miner").joinpath("templates").iterdir()),
    "entry_points": sorted(f"{e.name}={e.value}" for e in md.entry_points(group="impact_miner.connectors")),
    "scripts": [e.value for e in md.entry_points(group="console_scripts") if e.name == "mine"],
}))
"""


@pytest.mark.parametrize("editable", [False, True], ids=["install", "editable"])
def test_fresh_venv_install_ships_connectors_and_prompts(tmp_path: Path, editable: bool) -> None:
    import json

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    target = ["-e", str(ROOT)] if editable else [str(ROOT)]
    # --no-deps: this test is about the project's own files; the dependencies are tested everywhere else.
    subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", *target], check=True, cwd=tmp_path)
    done = subprocess.run([python, "-c", PROBE], check=True, capture_output=True, text=True, cwd=tmp_path)
    found = json.loads(done.stdout)
    assert found["git_module"] and found["prompts_readme"]
    assert {"report.md.j2", "starter-config.toml"} <= set(found["templates"])
    assert "git=impact_miner.connectors.git:connector" in found["entry_points"]
    assert found["scripts"] == ["impact_miner.cli:main"]
    inside_tree = found["connectors_file"].startswith(str(ROOT / "connectors"))
    assert inside_tree == editable, found["connectors_file"]

    # The public API imports from the fresh install, with this environment's packages as its dependencies
    # (on the path after the fresh site-packages, so the fresh impact_miner is the one imported).
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    deps = sysconfig.get_paths()["purelib"]
    (Path(purelib) / "zz-test-dependencies.pth").write_text(deps + "\n")
    api = (
        "import impact_miner\nfrom impact_miner import Connector, Evidence, Report, build_report\n"
        "from impact_miner.render.formats import FORMAT_NAMES\n"
        "print(impact_miner.__file__, build_report.__module__, Report.__name__, Evidence.__name__, "
        "Connector.__name__, len(FORMAT_NAMES))"
    )
    done = subprocess.run([python, "-c", api], check=True, capture_output=True, text=True, cwd=tmp_path)
    where, *names = done.stdout.split()
    assert names == ["impact_miner.pipeline", "Report", "Evidence", "Connector", "5"]
    assert where.startswith(str(ROOT / "src")) == editable, where


def test_python_dash_m_and_version() -> None:
    done = subprocess.run([sys.executable, "-m", "impact_miner", "--version"], capture_output=True, text=True)
    assert done.returncode == 0
    assert done.stdout.startswith("mine, version ")
