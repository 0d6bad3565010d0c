"""Start-up time of `bakectl --help` and `bakectl --version`, against a bare Typer app.

  python benchmarks/startup.py [--runs 40]

Shell completion runs the program on every TAB, so these must stay close to the cost of Typer
itself. The reference, measured in the same run and interleaved with bakectl's, is a
hello-world Typer app (one command, nothing else) asked for its `--help`, with bakectl's plain
help settings (Typer's default Rich help is shown too, for comparison: it is slower). bakectl
runs as the installed console script beside this Python (else as `python -m bakectl`), with
whatever plugins are installed (they must not be imported on these paths). Reported: the median wall
time of each, and its ratio to the reference's median. Goal: at most 1.3.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

HELLO = '''\
import typer

app = typer.Typer({settings})


@app.command()
def hello(name: str = "world"):
    """Say hello."""
    print(f"Hello {{name}}")


if __name__ == "__main__":
    app()
'''


REFERENCE = "typer hello-world --help (reference)"


def bakectl_command() -> tuple[list[str], str]:
    script = Path(sys.executable).parent / "bakectl"
    if script.exists():
        return [str(script)], "console script"
    return [sys.executable, "-m", "bakectl"], "python -m bakectl"


def wall(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   check=True)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> dict[str, float]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=40, help="runs of each command (default 40)")
    args = ap.parse_args(argv)
    bakectl, how = bakectl_command()
    env = {k: v for k, v in os.environ.items() if not k.startswith("BAKECTL_")}
    if how != "console script":
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    with tempfile.TemporaryDirectory() as tmp:
        hello, plain = Path(tmp) / "hello.py", Path(tmp) / "hello_plain.py"
        hello.write_text(HELLO.format(settings=""))
        # Typer's default help is drawn with Rich (a big import); bakectl's is plain text, so
        # the fair reference is the same app with bakectl's two settings.
        plain.write_text(HELLO.format(settings="add_completion=False, rich_markup_mode=None"))
        commands = {
            REFERENCE: [sys.executable, str(plain), "--help"],
            "typer hello-world --help (defaults)": [sys.executable, str(hello), "--help"],
            "bakectl --help": [*bakectl, "--help"],
            "bakectl --version": [*bakectl, "--version"],
        }
        for command in commands.values():  # warm the file cache and .pyc files
            wall(command, env)
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.runs):  # interleaved, so a noisy moment hits all of them alike
            for name, command in commands.items():
                times[name].append(wall(command, env))
    medians = {name: statistics.median(values) for name, values in times.items()}
    reference = medians[REFERENCE]
    print(f"start-up time, median of {args.runs} runs; bakectl as {how}; "
          f"Python {sys.version.split()[0]}")
    print(f"{'command':40} {'median ms':>10} {'ratio':>7}")
    for name, median in medians.items():
        print(f"{name:40} {median * 1000:10.1f} {median / reference:7.2f}")
    print("reference: the hello-world app with add_completion=False, rich_markup_mode=None "
          "(as bakectl's); goal: bakectl at most 1.3")
    return {name: median / reference for name, median in medians.items()}


if __name__ == "__main__":
    main()
