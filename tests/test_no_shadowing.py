"""A researcher's own top-level `analysis`, `algorithms`, `harness` and `suites` modules live
beside npg-bench in one environment without shadowing it or being shadowed.

npg-bench installs its four folders under one namespace (npgbench.*, a package-dir mapping in
pyproject.toml), so nothing of ours is a top-level name. The test builds a fresh venv that sees
this installation (a .pth file to its site-packages, no copy) plus a folder of four unrelated
top-level packages, and imports both sets from a working directory where the user's come first.
"""

from __future__ import annotations

import os
import site
import subprocess
import sys
import venv
from pathlib import Path

import pytest

NAMES = ("analysis", "algorithms", "harness", "suites")

CODE = """
import analysis, algorithms, harness, suites
assert all(m.WHOSE == "user" for m in (analysis, algorithms, harness, suites))
import npgbench
from npgbench.algorithms.registry import registry
from npgbench.analysis import api
from npgbench.harness.cli import main
from npgbench.suites import load_suite
assert "npg_exact" in registry() and load_suite("quickstart").name == "quickstart"
assert api.__name__ == "npgbench.analysis.api" and callable(main)
assert analysis.WHOSE == "user"  # importing ours did not replace theirs
print("ok", npgbench.__version__)
"""


@pytest.fixture(scope="module")
def user_env(tmp_path_factory) -> tuple[Path, Path]:
    """(python of a fresh venv that sees this install, a project folder with the 4 modules)."""
    root = tmp_path_factory.mktemp("shadow")
    venv.EnvBuilder(with_pip=False).create(root / "venv")
    python = root / "venv" / "bin" / "python"
    purelib = subprocess.check_output(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True
    ).strip()
    ours = [p for p in site.getsitepackages() if Path(p).is_dir()]
    # addsitedir, not a plain path line: the parent's own .pth files (the editable install's
    # finder among them) must run too.
    lines = [f"import site; site.addsitedir({p!r})" for p in ours]
    (Path(purelib) / "npgbench_test_parent.pth").write_text("\n".join(lines) + "\n")
    project = root / "project"
    for name in NAMES:
        (project / name).mkdir(parents=True)
        (project / name / "__init__.py").write_text('WHOSE = "user"\n')
    return python, project


def test_user_modules_and_npgbench_import_side_by_side(user_env):
    python, project = user_env
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [python, "-c", CODE], cwd=project, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0 and done.stdout.startswith("ok"), done.stderr[-2000:]


def test_the_command_line_runs_beside_them(user_env):
    python, project = user_env
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(project)  # the user's modules first on the path, for every import
    done = subprocess.run(
        [python, "-m", "npgbench.harness.cli", "list"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0 and "npg_exact" in done.stdout, done.stderr[-2000:]
    assert sys.executable != str(python)
