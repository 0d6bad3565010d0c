"""Shared helpers: real files in tmp dirs and the CLI as a real subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: a recipe file: RECIPE.format(name=..., mix=..., temp=..., bake=...)
RECIPE = """\
name: {name}
ingredients:
  - {{name: flour, quantity: 200, unit: g}}
  - {{name: eggs, quantity: 4, unit: pcs}}
mix_minutes: {mix}
oven:
  temperature_c: {temp}
  bake_minutes: {bake}
"""


def cli_env(**extra: str) -> dict[str, str]:
    """The environment of a CLI run: the repo importable, no installed plugins, no colour."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("BAKECTL_", "FORCE_COLOR", "PY_COLORS"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), extra.pop("PYTHONPATH", "")]))
    env["BAKECTL_LOAD_PLUGINS"] = extra.pop("BAKECTL_LOAD_PLUGINS", "")
    env.update(extra)
    return env


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 60,
            **env: str) -> subprocess.CompletedProcess:
    """Run ``python -m bakectl ARGS`` as a user would, capturing stdout and stderr."""
    return subprocess.run([sys.executable, "-m", "bakectl", *args], cwd=cwd or ROOT,
                          env=cli_env(**env), capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def write(tmp_path):
    """write("name.yaml", text) -> path: a real file in a fresh folder."""

    def _write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    return _write


def imported_by(argv: list[str], modules: tuple[str, ...]) -> list[str]:
    """Which of `modules` the CLI imports when run with `argv` (in a fresh interpreter)."""
    code = ("import sys\nfrom bakectl.cli import main\n"
            f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
            f"print([m for m in {modules!r} if m in sys.modules], file=sys.stderr)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=cli_env(), cwd=ROOT, timeout=60)
    return eval(result.stderr.strip().splitlines()[-1])  # a list literal printed by the child
