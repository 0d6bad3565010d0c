"""The plugin tutorial of docs/plugins.md, for real: its files, pip-installed into a fresh
environment beside a deliberately broken plugin, as a user would.

The one slow test of the suite (a few seconds): the fresh venv has no pip and no packages of its
own; it sees this environment's installed packages (typer, pluggy, setuptools...) through a
.pth file, and this environment's pip installs into it (``pip --python``) offline, without
build isolation. The cheap in-process checks of the tutorial's code come first.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest
from conftest import ROOT

FILE_BLOCK = re.compile(r"```\w+ file=(\S+)\n(.*?)```", re.S)


def tutorial_files(into: Path) -> dict[str, Path]:
    """Write the tutorial's files (fenced blocks marked ``file=PATH``) under `into`."""
    written = {}
    for name, body in FILE_BLOCK.findall((ROOT / "docs" / "plugins.md").read_text()):
        path = into / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body, encoding="utf-8")
        written[name] = path
    return written


def test_the_tutorial_has_a_package_a_plugin_and_tests(tmp_path):
    assert set(tutorial_files(tmp_path)) == {"bakectl-hello/pyproject.toml",
                                             "bakectl-hello/bakectl_hello.py",
                                             "bakectl-hello/tests/test_hello.py"}


def test_the_tutorial_tests_pass_in_process(tmp_path, monkeypatch, bakectl_bake, bakectl_cli):
    files = tutorial_files(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path / "bakectl-hello"))
    spec = importlib.util.spec_from_file_location("tutorial_tests",
                                                  files["bakectl-hello/tests/test_hello.py"])
    tests = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tests)
    tests.test_the_brioche_proofs_then_bakes(bakectl_bake)
    tests.test_the_hello_command(bakectl_cli)


BROKEN_PYPROJECT = """\
[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "bakectl-broken"
version = "6.6.6"

[project.entry-points.bakectl]
broken = "bakectl_broken"

[tool.setuptools]
py-modules = ["bakectl_broken"]
"""


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    """A fresh venv with bakectl, the tutorial's bakectl-hello and a broken plugin installed;
    returns a function running its `bakectl` in a work folder."""
    if importlib.util.find_spec("setuptools") is None:
        pytest.skip("needs setuptools (the test extra) to build the plugins offline")
    tmp = tmp_path_factory.mktemp("fresh")
    env_dir = tmp / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()"
                           "['purelib'])"], capture_output=True, text=True, check=True)
    outer = sysconfig.get_paths()["purelib"]
    Path(site.stdout.strip(), "_outer.pth").write_text(f"import site; site.addsitedir({outer!r})\n")
    tutorial_files(tmp)
    broken = tmp / "bakectl-broken"
    broken.mkdir()
    (broken / "pyproject.toml").write_text(BROKEN_PYPROJECT)
    (broken / "bakectl_broken.py").write_text("import numpy_that_is_not_installed\n")
    # bakectl itself from a copy of its sources: building in place would leave build/ here.
    source = tmp / "bakectl-src"
    shutil.copytree(ROOT / "bakectl", source / "bakectl",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    env = clean_env()
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps",
         "--no-build-isolation", "--no-index", str(source), str(tmp / "bakectl-hello"),
         str(broken)], capture_output=True, text=True, env=env, timeout=300)
    assert install.returncode == 0, install.stderr
    work = tmp / "work"
    work.mkdir()
    (work / "orders.yaml").write_text("orders:\n  - {id: b-1, recipe: hello-brioche}\n"
                                      "  - {id: m-1, recipe: hello-muffin, quantity: 2}\n")

    def bakectl(*args: str, **extra: str) -> subprocess.CompletedProcess:
        return subprocess.run([env_dir / "bin" / "bakectl", *args], cwd=work,
                              env={**env, **extra}, capture_output=True, text=True, timeout=120)

    bakectl.python = python
    bakectl.tmp = tmp
    return bakectl


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("BAKECTL_", "PYTHON", "PIP_", "VIRTUAL_ENV"))}
    env["NO_COLOR"] = "1"
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


BROKEN_LINE = ("bakectl: plugin 'broken' failed to load: ModuleNotFoundError: No module named "
               "'numpy_that_is_not_installed' (disable it with -p no:broken or "
               "BAKECTL_DISABLE_PLUGINS=broken)")


def test_a_pip_installed_tutorial_plugin_works_beside_a_broken_one(fresh):
    # --help and --version never import installed plugins: the broken one is not even seen.
    for args in (["--help"], ["--version"]):
        result = fresh(*args)
        assert (result.returncode, result.stderr) == (0, ""), args

    listed = fresh("plugins", "--json")
    assert listed.returncode == 0
    rows = {row["name"]: row for row in json.loads(listed.stdout)}
    assert rows["hello"] == {"name": "hello", "kind": "installed", "package": "bakectl-hello",
                             "version": "0.1.0", "hooks": ["bakectl_commands",
                                                           "bakectl_order_delivered",
                                                           "bakectl_recipes"], "error": None}
    assert rows["broken"]["version"] == "6.6.6"
    assert rows["broken"]["error"].startswith("failed to load: ModuleNotFoundError")
    assert BROKEN_LINE in listed.stderr.splitlines()

    recipes = fresh("recipes", "--json")
    assert recipes.returncode == 0 and recipes.stderr.splitlines() == [BROKEN_LINE]
    by_name = {row["name"]: row for row in json.loads(recipes.stdout)}
    assert by_name["hello-brioche"]["process"] == "mix 20 → proofing 45 → bake 180 °C 30"
    assert by_name["hello-muffin"]["source"] == "plugin hello"

    baked = fresh("bake", "orders.yaml", "--simulate", "--json")
    assert baked.returncode == 0, baked.stderr
    report = json.loads(baked.stdout)
    assert [o["status"] for o in report["orders"]] == ["delivered", "delivered"]
    brioche = report["cakes"][0]
    assert [(s["stage"], s["start"], s["end"]) for s in brioche["steps"][:2]] == [
        ("mixing", 0.0, 20.0), ("proofing", 20.0, 65.0)]
    assert "b-1 #1 hello-brioche: proofing" in baked.stderr
    assert "hello: order b-1 is ready for someone" in baked.stderr
    assert baked.stderr.count("plugin 'broken' failed") == 1

    assert fresh("hello", "--name", "Ada").stdout == "Hello, Ada!\n"
    blocked = fresh("recipes", BAKECTL_DISABLE_PLUGINS="broken")
    assert (blocked.returncode, blocked.stderr) == (0, "")


def test_the_tutorial_tests_pass_where_the_plugin_is_installed(fresh):
    result = subprocess.run([fresh.python, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             str(fresh.tmp / "bakectl-hello" / "tests")],
                            cwd=fresh.tmp, env=clean_env(), capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout
