"""The documentation's examples are executed, so they cannot drift from the code."""

from __future__ import annotations

import json
import re

import pytest
from conftest import ROOT, run_cli

PYTHON_BLOCK = re.compile(r"```python\n(.*?)```", re.S)
FILE_BLOCK = re.compile(r"<!-- file: (\S+) -->\n```yaml\n(.*?)```", re.S)
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def python_examples():
    for path in DOCS:
        for k, code in enumerate(PYTHON_BLOCK.findall(path.read_text(encoding="utf-8")), 1):
            yield pytest.param(code, id=f"{path.name}-{k}")


@pytest.mark.parametrize("code", list(python_examples()))
def test_python_examples_run(code, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "<doc example>", "exec"), {"__name__": "__doc_example__"})


def test_format_examples_validate_together(tmp_path):
    text = (ROOT / "docs" / "formats.md").read_text(encoding="utf-8")
    files = FILE_BLOCK.findall(text)
    assert {name for name, _ in files} >= {"orders.yaml", "bakery.yaml", "recipes/sponge.yaml"}
    for name, body in files:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body, encoding="utf-8")
    result = run_cli("validate", "orders.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "2 orders, 3 cakes, 2 ovens, 2 recipes" in result.stdout
    # The override example replaces recipes/sponge.yaml when its folder is read too.
    result = run_cli("recipes", "--json", "--recipes", "more", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    sponge = next(row for row in json.loads(result.stdout) if row["name"] == "sponge")
    assert (sponge["source"], sponge["overrides"]) == ("more/sponge.yaml", "recipes/sponge.yaml")


def test_report_example_is_what_bakectl_prints(tmp_path):
    import json

    text = (ROOT / "docs" / "report.md").read_text(encoding="utf-8")
    documented = json.loads(re.search(r"```json\n(.*?)```", text, re.S).group(1))
    (tmp_path / "recipes").mkdir()
    (tmp_path / "recipes" / "sponge.yaml").write_text(
        "name: sponge\ningredients: [{name: flour, quantity: 200, unit: g}]\n"
        "mix_minutes: 10\noven: {temperature_c: 180, bake_minutes: 25}\n")
    (tmp_path / "bakery.yaml").write_text("ovens: 2\n")
    (tmp_path / "orders.yaml").write_text(
        "orders:\n  - {id: o-1, recipe: sponge, quantity: 2, due: 60}\n")
    result = run_cli("bake", "orders.yaml", "--simulate", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    printed.pop("wall_seconds"), documented.pop("wall_seconds")
    assert printed == documented


def excerpt_of(part, whole, where="report") -> None:
    """Every field of `part` is in `whole` with the same value (lists: their first items)."""
    if isinstance(part, dict):
        assert isinstance(whole, dict), where
        for key, value in part.items():
            assert key in whole, f"{where}.{key} is not in the report"
            excerpt_of(value, whole[key], f"{where}.{key}")
    elif isinstance(part, list):
        assert isinstance(whole, list) and len(part) <= len(whole), where
        for k, (item, full) in enumerate(zip(part, whole[:len(part)], strict=True)):
            excerpt_of(item, full, f"{where}[{k}]")
    else:
        assert part == whole, f"{where}: {part!r} in the excerpt, {whole!r} printed"


def test_the_readmes_report_is_an_excerpt_of_the_documented_one():
    # docs/report.md's example is what bakectl prints (the test above); the README's is cut
    # from it, and must not say anything else.
    def first_json(path):
        text = path.read_text(encoding="utf-8")
        return json.loads(re.search(r"```json\n(.*?)```", text, re.S).group(1))

    excerpt_of(first_json(ROOT / "README.md"), first_json(ROOT / "docs" / "report.md"))


def test_the_plan_commands_of_docs_plan_md_run_on_the_example_files(tmp_path):
    import shlex
    import shutil

    text = (ROOT / "docs" / "plan.md").read_text(encoding="utf-8")
    block = re.search(r"```\n(bakectl plan .*?)```", text, re.S).group(1)
    commands = [shlex.split(line.split("#")[0]) for line in block.splitlines()]
    assert len(commands) >= 7
    for name in ("orders.yaml", "bakery.yaml"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "recipes", tmp_path / "recipes")
    for command in commands:
        result = run_cli(*command[1:], cwd=tmp_path)
        assert result.returncode == 0, (command, result.stderr)
        assert result.stdout and "Traceback" not in result.stderr, command
        if "--json" in command:
            assert json.loads(result.stdout)["summary"]["delivered"] == 10
    assert (tmp_path / "day.html").read_text(encoding="utf-8").startswith("<!doctype html>")
