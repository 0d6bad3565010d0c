"""The journal: kill a real `bakectl bake` at random moments, resume it, and find every order
delivered exactly once; torn lines, foreign journals and files that are not journals."""

from __future__ import annotations

import json
import random
import resource
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from conftest import cli_env, run_cli
from hypothesis import given, settings
from hypothesis import strategies as st

from bakectl.journal import read

RECIPE = ("name: {name}\ningredients: [{{name: flour, quantity: 1, unit: g}}]\n"
          "mix_minutes: {mix}\noven: {{temperature_c: {temp}, bake_minutes: {bake}}}\n")
RECIPES = {"sponge": (4, 180, 10), "scones": (3, 200, 6), "brownies": (5, 180, 8)}
QUANTITIES = {"o-1": ("sponge", 2), "o-2": ("scones", 1), "o-3": ("brownies", 2),
              "o-4": ("sponge", 1), "o-5": ("scones", 2)}
#: bakery minutes per wall second: the whole workload takes about half a second
SPEED = "7200"


def workload(folder):
    (folder / "recipes").mkdir(parents=True)
    for name, (mix, temp, bake) in RECIPES.items():
        (folder / "recipes" / f"{name}.yaml").write_text(
            RECIPE.format(name=name, mix=mix, temp=temp, bake=bake))
    (folder / "bakery.yaml").write_text("ovens: 2\n")
    (folder / "orders.yaml").write_text("orders:\n" + "".join(
        f"  - {{id: {oid}, recipe: {recipe}, quantity: {n}}}\n"
        for oid, (recipe, n) in QUANTITIES.items()))


def bakectl(folder, *args, plugins=(), **env) -> subprocess.Popen:
    options = [word for name in plugins for word in ("-p", name)]
    return subprocess.Popen([sys.executable, "-m", "bakectl", *options, "bake", "orders.yaml",
                             *args], cwd=folder, env=cli_env(**env), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


#: a plugin that writes the id of every order it is told is delivered into $DELIVERIES
COUNTING_PLUGIN = """\
import os

from bakectl import hookimpl

started = False


@hookimpl
def bakectl_run_started(kitchen):
    global started
    started = True


@hookimpl
def bakectl_order_delivered(order):
    with open(os.environ["DELIVERIES"], "a") as stream:
        # A plugin may get ready for deliveries when the run starts: none may come before.
        stream.write(("" if started else "before-run-started:") + order.order.id + "\\n")
"""


def counting(folder) -> dict[str, str]:
    """Options and environment for a run with the counting plugin; its list is
    folder / "deliveries"."""
    (folder / "counting.py").write_text(COUNTING_PLUGIN)
    return {"PYTHONPATH": str(folder), "DELIVERIES": str(folder / "deliveries")}


def delivered(folder) -> list[str]:
    """The orders the counting plugin was told of, in order, repeats included."""
    path = folder / "deliveries"
    return path.read_text().split() if path.exists() else []


def delivered_records(journal) -> list[str]:
    return [json.loads(line)["order"] for line in journal.read_bytes().splitlines()
            if b'"event":"delivered"' in line]


def check_exactly_once(report: dict, before: dict) -> None:
    """Every order delivered once, every cake baked once, at its recipe's temperature, no
    two bakes at once in one oven, and cakes baked before the kill kept as they were."""
    assert report["interrupted"] is False
    assert sorted(o["id"] for o in report["orders"]) == sorted(QUANTITIES)
    assert all(o["status"] == "delivered" for o in report["orders"])
    keys = [(c["order"], c["index"]) for c in report["cakes"]]
    assert sorted(keys) == sorted((oid, k) for oid, (_, n) in QUANTITIES.items()
                                  for k in range(1, n + 1))
    by_oven: dict[str, list[tuple[float, float]]] = {}
    for cake in report["cakes"]:
        assert cake["status"] == "baked"
        assert cake["temperature_c"] == RECIPES[cake["recipe"]][1]
        by_oven.setdefault(cake["oven"], []).append((cake["bake_start"], cake["bake_end"]))
        old = before.get((cake["order"], cake["index"]))
        if old is not None:
            assert (cake["oven"], cake["bake_start"]) == (old["oven"],
                                                          round(old["bake_start"], 6))
    for spans in by_oven.values():
        spans.sort()
        for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
            assert start >= end - 1e-6, "one oven baked two cakes at once"


def kill_and_resume(folder, moment: tuple[int, float]) -> tuple[int, dict]:
    """Kill a run once its journal has `lines` lines, `extra` seconds later; resume it."""
    lines, extra = moment
    process = bakectl(folder, "--speed", SPEED, "--no-progress", "--json")
    journal = folder / "orders.yaml.journal"
    # Moments picked by progress, not by the clock: a loaded machine moves them in time only.
    while process.poll() is None and lines and (
            not journal.exists() or journal.read_bytes().count(b"\n") < lines):
        time.sleep(0.005)
    time.sleep(extra)
    process.send_signal(signal.SIGKILL)
    process.communicate()
    before = read(journal)[1].baked if journal.exists() else {}
    resumed = bakectl(folder, "--speed", SPEED, "--no-progress", "--json", "--resume")
    out, err = resumed.communicate(timeout=60)
    assert resumed.returncode == 0, err
    report = json.loads(out)
    check_exactly_once(report, before)
    return len(before), report


def test_sigkill_at_random_moments_then_resume_delivers_every_order_exactly_once(tmp_path):
    rng = random.Random(20240601)
    # A whole run journals about 50 lines. 0 lines: killed during start-up, maybe before the
    # journal exists; 60: killed after the run has finished (or at its very end).
    moments = [(0, 0.0), (0, 0.3), (60, 0.0)] + [
        (rng.randint(1, 50), rng.uniform(0.0, 0.05)) for _ in range(17)]
    folders = []
    for k in range(len(moments)):
        folders.append(tmp_path / f"trial-{k}")
        workload(folders[-1])
    # Three at a time: each trial mostly sleeps in real-time waits.
    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(kill_and_resume, folders, moments))
    restored = [count for count, _ in results]
    # The kills landed at different stages: some before any cake was baked, some after.
    assert min(restored) == 0 and max(restored) > 0


def test_a_journal_for_other_orders_is_refused(tmp_path):
    workload(tmp_path)
    assert run_cli("bake", "orders.yaml", "--simulate", "--journal", "j", cwd=tmp_path
                   ).returncode == 0
    (tmp_path / "orders.yaml").write_text("orders:\n  - {id: o-9, recipe: sponge}\n")
    result = run_cli("bake", "orders.yaml", "--simulate", "--journal", "j", "--resume",
                     cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == ("j: this journal was written for other orders (the orders "
                             "differ): resume with the files it was started with, or delete "
                             "it to start again\n")


def test_an_unfinished_journal_is_not_overwritten_by_a_new_run(tmp_path):
    workload(tmp_path)
    process = bakectl(tmp_path, "--speed", "60", "--no-progress")  # minutes of wall time
    journal = tmp_path / "orders.yaml.journal"
    for _ in range(200):  # the header, the run, a cake's first stage: the run has started
        if (journal.read_bytes() if journal.exists() else b"").count(b"\n") >= 3:
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.communicate()
    kept = journal.read_bytes()
    result = run_cli("bake", "orders.yaml", "--speed", SPEED, cwd=tmp_path)
    assert result.returncode == 2
    assert "the journal of an unfinished run is here: continue it with --resume" in result.stderr
    assert journal.read_bytes() == kept


def test_a_run_that_stops_before_it_starts_does_not_block_the_next_one(tmp_path):
    workload(tmp_path)
    # A typo in an option, and a plugin whose oven driver fails at the start: exit 2 each...
    typo = run_cli("bake", "orders.yaml", "--speed", SPEED, "--policy", "fifoo", cwd=tmp_path)
    assert typo.returncode == 2 and "unknown policy" in typo.stderr
    (tmp_path / "broken.py").write_text("from bakectl import hookimpl\n\n@hookimpl\n"
                                        "def bakectl_oven_driver(clock):\n"
                                        "    raise RuntimeError('no oven on the bus')\n")
    broken = run_cli("-p", "broken", "bake", "orders.yaml", "--speed", SPEED, cwd=tmp_path,
                     PYTHONPATH=str(tmp_path))
    assert broken.returncode == 2 and "no oven on the bus" in broken.stderr
    # A plugin that fails as the run starts, with failures made fatal: the journal has its
    # header and the run's first record, and still nothing to continue.
    (tmp_path / "badstart.py").write_text("from bakectl import hookimpl\n\n@hookimpl\n"
                                          "def bakectl_run_started(kitchen):\n"
                                          "    raise RuntimeError('no display')\n")
    fatal = run_cli("-p", "badstart", "bake", "orders.yaml", "--speed", SPEED, cwd=tmp_path,
                    PYTHONPATH=str(tmp_path), BAKECTL_RAISE_PLUGIN_ERRORS="1")
    assert fatal.returncode == 2 and "no display" in fatal.stderr
    # ...and the corrected run starts afresh, not "continue it with --resume".
    fixed = run_cli("bake", "orders.yaml", "--speed", SPEED, "--no-progress", cwd=tmp_path)
    assert fixed.returncode == 0, fixed.stderr


def test_a_journal_that_can_no_longer_be_written_stops_the_run_and_resume_finishes_it(
        tmp_path):
    workload(tmp_path)
    env = counting(tmp_path)

    def small_files():  # a full disk, for files: the journal cannot grow past 2,600 bytes
        resource.setrlimit(resource.RLIMIT_FSIZE, (2600, 2600))

    # Simulated: the same records every time, so the disk is full at the same one (a record
    # that says a plugin was told of a delivery could be the one lost: told again, by design).
    full = subprocess.run([sys.executable, "-m", "bakectl", "-p", "counting", "bake",
                           "orders.yaml", "--simulate", "--journal", "orders.yaml.journal",
                           "--no-progress"], cwd=tmp_path,
                          env=cli_env(**env), capture_output=True, text=True, timeout=60,
                          preexec_fn=small_files)
    assert full.returncode == 74, full.stderr
    assert full.stderr == ("orders.yaml.journal: cannot write the journal: File too large; "
                           "stopped (carry on with --resume once it can be written)\n")
    assert full.stdout == ""
    journal = tmp_path / "orders.yaml.journal"
    assert 0 < len(delivered(tmp_path)) < len(QUANTITIES)  # stopped halfway
    resumed = run_cli("-p", "counting", "bake", "orders.yaml", "--simulate", "--journal",
                      "orders.yaml.journal", "--no-progress", "--json", "--resume",
                      cwd=tmp_path, **env)
    assert resumed.returncode == 0, resumed.stderr
    check_exactly_once(json.loads(resumed.stdout), {})
    assert sorted(delivered(tmp_path)) == sorted(QUANTITIES)  # each told once, all told
    assert sorted(delivered_records(journal)) == sorted(QUANTITIES)


def test_a_file_that_is_not_a_journal_is_never_overwritten(tmp_path):
    workload(tmp_path)
    orders = (tmp_path / "orders.yaml").read_text()
    for resume in ((), ("--resume",)):
        result = run_cli("bake", "orders.yaml", "--simulate", "--journal", "orders.yaml",
                         *resume, cwd=tmp_path)
        assert result.returncode == 2
        assert result.stderr == ("orders.yaml:1:1: not a bakectl journal: choose another "
                                 "--journal file\n")
    assert (tmp_path / "orders.yaml").read_text() == orders


def test_a_directory_or_fifo_as_journal_is_an_error(tmp_path):
    import os

    workload(tmp_path)
    (tmp_path / "dir").mkdir()
    os.mkfifo(tmp_path / "fifo")
    for name in ("dir", "fifo"):
        result = run_cli("bake", "orders.yaml", "--simulate", "--journal", name, "--resume",
                         cwd=tmp_path, timeout=20)
        assert result.returncode == 2
        assert result.stderr == f"{name}: the journal is not a regular file\n"


def test_a_torn_last_line_is_dropped_and_the_run_carries_on(tmp_path):
    workload(tmp_path)
    run = run_cli("bake", "orders.yaml", "--simulate", "--journal", "j", "--json",
                  cwd=tmp_path)
    assert run.returncode == 0
    journal = tmp_path / "j"
    lines = journal.read_bytes().splitlines(keepends=True)
    # Keep the first two baked cakes, then a record cut off mid-line by a "crash".
    baked = [k for k, line in enumerate(lines) if b'"event":"baked"' in line]
    cut = lines[:baked[1] + 1]
    journal.write_bytes(b"".join(cut) + lines[baked[2]][:30])
    resumed = run_cli("bake", "orders.yaml", "--simulate", "--journal", "j", "--json",
                      "--resume", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    report = json.loads(resumed.stdout)
    check_exactly_once(report, read(journal)[1].baked)
    # The torn bytes were cut away before appending, so every line is whole JSON again.
    assert all(json.loads(line) for line in journal.read_bytes().splitlines())
    # The first run's baked cakes kept their times; the resumed run carried on after them.
    first = json.loads(run.stdout)["cakes"]
    kept = {(c["order"], c["index"]): c for c in report["cakes"]}
    for line in cut[baked[0]:]:
        record = json.loads(line)
        if record["event"] == "baked":
            key = (record["order"], record["index"])
            assert kept[key] == next(c for c in first if (c["order"], c["index"]) == key)


def test_resuming_a_finished_run_bakes_nothing_and_reports_everything(tmp_path):
    workload(tmp_path)
    first = run_cli("bake", "orders.yaml", "--simulate", "--journal", "j", "--json",
                    cwd=tmp_path)
    again = run_cli("bake", "orders.yaml", "--simulate", "--journal", "j", "--json",
                    "--resume", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    one, two = json.loads(first.stdout), json.loads(again.stdout)
    assert one["cakes"] == two["cakes"] and one["orders"] == two["orders"]
    assert two["ovens"] == one["ovens"]
    # A finished run's journal may be replaced by a new run.
    assert run_cli("bake", "orders.yaml", "--simulate", "--journal", "j", cwd=tmp_path
                   ).returncode == 0


def test_a_resumed_run_counts_each_bake_of_a_cake_baked_twice_on_its_oven(tmp_path):
    # Biscotti bake, cool, bake again, maybe on another oven: the resumed report's oven totals
    # (bakes, busy and set-up minutes) are those of the run that baked them.
    (tmp_path / "recipes").mkdir()
    (tmp_path / "recipes" / "biscotti.yaml").write_text(
        "name: biscotti\ningredients: [{name: flour, quantity: 1, unit: g}]\nmix_minutes: 5\n"
        "steps:\n  - bake: {temperature_c: 175, minutes: 25}\n"
        "  - rest: {minutes: 15, stage: cooling}\n  - bake: {temperature_c: 150, minutes: 12}\n")
    (tmp_path / "bakery.yaml").write_text("ovens: 2\n")
    (tmp_path / "orders.yaml").write_text("orders:\n  - {id: b-1, recipe: biscotti, "
                                          "quantity: 3}\n")
    args = ("bake", "orders.yaml", "--simulate", "--json", "--journal", "j", "--policy",
            "fifo", "--no-progress")
    first = run_cli(*args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    again = run_cli(*args, "--resume", cwd=tmp_path)  # every cake restored from the journal
    assert again.returncode == 0, again.stderr
    ovens = json.loads(first.stdout)["ovens"]
    assert sum(oven["bakes"] for oven in ovens) == 6
    assert json.loads(again.stdout)["ovens"] == ovens


def test_a_damaged_record_in_the_middle_is_an_error_with_its_line(tmp_path):
    workload(tmp_path)
    run_cli("bake", "orders.yaml", "--simulate", "--journal", "j", cwd=tmp_path)
    lines = (tmp_path / "j").read_bytes().splitlines(keepends=True)
    lines[3] = b"\x00\x00\xff garbage\n"
    (tmp_path / "j").write_bytes(b"".join(lines))
    result = run_cli("bake", "orders.yaml", "--simulate", "--journal", "j", "--resume",
                     cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == ("j:4:1: damaged journal record (not one JSON object with an "
                             "event)\n")


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_a_journal_cut_anywhere_reads_up_to_its_last_whole_record(tmp_path_factory, data):
    folder = tmp_path_factory.mktemp("cut")
    full = folder / "full"
    records = [{"bakectl_journal": 1, "started": "2024-01-01T00:00:00+00:00"}] + [
        {"event": "baked", "m": k + 1.0, "order": f"o-{k}", "index": 1, "oven": "oven-1",
         "mix_start": 0, "mix_end": 1, "oven_start": 1, "bake_start": k, "bake_end": k + 1,
         "temperature_c": 180, "bake_minutes": 1} for k in range(5)]
    text = "".join(json.dumps(r) + "\n" for r in records).encode()
    cut = data.draw(st.integers(0, len(text)))
    full.write_bytes(text[:cut])
    header, restored, good = read(full)
    whole = text[:cut].count(b"\n")
    assert good == len(b"".join(text.splitlines(keepends=True)[:whole]))
    assert (header is not None) == (whole >= 1)
    assert len(restored.baked) == max(0, whole - 1)


def test_orders_delivered_before_ctrl_c_are_not_delivered_again_on_resume(tmp_path):
    # Two ovens at 600x: o-1 is ready in a moment, o-2 bakes for a minute of wall time;
    # Ctrl-C once o-1 is delivered.
    (tmp_path / "recipes").mkdir()
    (tmp_path / "recipes" / "quick.yaml").write_text(
        RECIPE.format(name="quick", mix=0, temp=20, bake=1))
    (tmp_path / "recipes" / "slow.yaml").write_text(
        RECIPE.format(name="slow", mix=0, temp=20, bake=600))
    (tmp_path / "bakery.yaml").write_text("ovens: 2\n")
    (tmp_path / "orders.yaml").write_text(
        "orders:\n  - {id: o-1, recipe: quick}\n  - {id: o-2, recipe: slow}\n")
    env = counting(tmp_path)
    process = bakectl(tmp_path, "--speed", "600", "--grace", "0", plugins=["counting"], **env)
    seen = []
    for line in process.stderr:
        seen.append(line)
        if "order o-1 delivered" in line:
            break
    else:
        process.kill()
        raise AssertionError("o-1 was never delivered: " + "".join(seen))
    process.send_signal(signal.SIGINT)
    process.communicate(timeout=60)
    assert process.returncode == 130
    assert delivered(tmp_path) == ["o-1"]

    journal = tmp_path / "orders.yaml.journal"
    resumed = run_cli("-p", "counting", "bake", "orders.yaml", "--speed", "60000", "--json",
                      "--resume", cwd=tmp_path, **env)
    assert resumed.returncode == 0, resumed.stderr
    # Progress goes on from where the journal ended, and knows what was baked before.
    progress = resumed.stderr.splitlines()
    assert progress[0].endswith("baking 2 cakes for 2 orders on 2 ovens "
                                "(1 baked by an earlier run)"), progress
    minutes = [float(line[1:line.index(" min]")]) for line in progress]
    assert minutes[0] > 0 and min(minutes) == minutes[0], progress
    report = json.loads(resumed.stdout)
    # Both orders are reported as delivered; only o-2 is delivered by this run.
    assert [o["status"] for o in report["orders"]] == ["delivered", "delivered"]
    assert delivered(tmp_path) == ["o-1", "o-2"]
    assert delivered_records(journal) == ["o-1", "o-2"]

    # Resuming a finished journal delivers nothing and records no delivery again.
    again = run_cli("-p", "counting", "bake", "orders.yaml", "--speed", "60000", "--json",
                    "--no-progress", "--resume", cwd=tmp_path, **env)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["orders"] == report["orders"]
    assert delivered(tmp_path) == ["o-1", "o-2"]
    assert delivered_records(journal) == ["o-1", "o-2"]


def test_an_order_baked_but_not_recorded_as_delivered_is_delivered_on_resume(tmp_path):
    workload(tmp_path)
    env = counting(tmp_path)
    first = run_cli("-p", "counting", "bake", "orders.yaml", "--simulate", "--journal", "j",
                    cwd=tmp_path, **env)
    assert first.returncode == 0, first.stderr
    told = delivered(tmp_path)
    assert sorted(told) == sorted(QUANTITIES)
    # A crash after the third order's last cake was baked, before its `delivered` record.
    journal = tmp_path / "j"
    lines = journal.read_bytes().splitlines(keepends=True)
    third = [k for k, line in enumerate(lines) if b'"event":"delivered"' in line][2]
    journal.write_bytes(b"".join(lines[:third]))
    (tmp_path / "deliveries").unlink()

    resumed = run_cli("-p", "counting", "bake", "orders.yaml", "--simulate", "--journal", "j",
                      "--resume", cwd=tmp_path, **env)
    assert resumed.returncode == 0, resumed.stderr
    # The third order is delivered again (at least once), with those not delivered before.
    assert delivered(tmp_path) == told[2:]
    assert delivered_records(journal) == told


def test_a_resumed_bake_plans_what_is_left_and_is_no_worse_than_any_rule(tmp_path):
    # The example day: several temperatures and ovens, so the plan matters. Cut its journal
    # as kill -9 would, after half the orders were delivered.
    import shutil

    from conftest import ROOT

    for name in ("orders.yaml", "bakery.yaml"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "recipes", tmp_path / "recipes")
    full = run_cli("bake", "orders.yaml", "--simulate", "--journal", "full.journal",
                   "--no-progress", cwd=tmp_path)
    assert full.returncode == 0, full.stderr
    lines = (tmp_path / "full.journal").read_text().splitlines(keepends=True)
    delivered_at = [k for k, line in enumerate(lines) if '"event":"delivered"' in line]
    cut = "".join(lines[:delivered_at[len(delivered_at) // 2] + 1])
    makespans = {}
    for policy in ("fifo", "edf", "batch", "search"):
        (tmp_path / "cut.journal").write_text(cut)
        resumed = run_cli("bake", "orders.yaml", "--simulate", "--journal", "cut.journal",
                          "--resume", "--policy", policy, "--json", "--no-progress",
                          cwd=tmp_path)
        assert resumed.returncode == 0, resumed.stderr
        report = json.loads(resumed.stdout)
        assert report["summary"]["delivered"] == report["summary"]["orders"]
        makespans[policy] = report["makespan_minutes"]
    # It planned the rest of the day, not the whole day again (whose plan made the ovens
    # wait for cakes they were never going to get in time).
    assert makespans["search"] <= min(makespans[rule] for rule in ("fifo", "edf", "batch"))
