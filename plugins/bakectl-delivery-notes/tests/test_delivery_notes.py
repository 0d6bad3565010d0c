"""Delivery notes: files, a real webhook on 127.0.0.1, and failures that name the plugin."""

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import bakectl_delivery_notes
import pytest

from bakectl import Ingredient, Recipe, hookimpl
from bakectl.plugins import PluginError

SPONGE = Recipe("sponge", (Ingredient("flour", 200, "g"),), mix_minutes=10, temperature_c=180,
                bake_minutes=25)
SCONES = Recipe("scones", (Ingredient("flour", 300, "g"),), mix_minutes=8, temperature_c=220,
                bake_minutes=12)
ORDERS = [{"id": "o-1", "recipe": "sponge", "quantity": 2, "due": 60, "customer": "Alice"},
          {"id": "o/2", "recipe": "scones", "due": 10}]


@pytest.fixture
def webhook():
    """A real HTTP server on an ephemeral port of 127.0.0.1; yields (url, received bodies)."""
    received = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.headers["Content-Type"], json.loads(body)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/notes", received
    server.shutdown()
    server.server_close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_note_file_per_delivered_order(bakectl_bake, tmp_path, monkeypatch):
    monkeypatch.setenv("BAKECTL_DELIVERY_NOTES_DIR", str(tmp_path / "notes"))
    report = bakectl_bake(ORDERS, plugins=[bakectl_delivery_notes], recipes=[SPONGE, SCONES])
    assert report["summary"]["delivered"] == 2
    notes = sorted(p.name for p in (tmp_path / "notes").iterdir())
    # An id is made safe as a file name, with a hash of it to keep it unique.
    assert notes == ["o-1.txt", "o_2~7761648c65.txt"]
    assert (tmp_path / "notes" / "o-1.txt").read_text() == (
        "Delivery note: order o-1\ncustomer: Alice\ncakes: 2 × sponge\n"
        "ready: minute 51 of the run (due: minute 60, on time)\n")
    assert "due: minute 10, late" in (tmp_path / "notes" / "o_2~7761648c65.txt").read_text()


def test_ids_that_differ_only_in_punctuation_get_a_note_each(bakectl_bake, tmp_path,
                                                            monkeypatch):
    monkeypatch.setenv("BAKECTL_DELIVERY_NOTES_DIR", str(tmp_path))
    ids = ["a/b", "a b", "a_b", "A_B"]
    report = bakectl_bake([{"id": order_id, "recipe": "sponge"} for order_id in ids],
                          plugins=[bakectl_delivery_notes], recipes=[SPONGE])
    assert report["summary"]["delivered"] == 4
    written = {p.read_text().splitlines()[0]: p.name for p in tmp_path.iterdir()}
    assert written == {"Delivery note: order a/b": "a_b~c14cddc033.txt",
                       "Delivery note: order a b": "a_b~c8687a08aa.txt",
                       "Delivery note: order a_b": "a_b.txt",  # a safe id is its own name
                       "Delivery note: order A_B": "A_B~6c1908f93f.txt"}


def test_notes_are_posted_to_the_webhook(bakectl_bake, webhook, monkeypatch):
    url, received = webhook
    monkeypatch.setenv("BAKECTL_DELIVERY_WEBHOOK", url)
    bakectl_bake(ORDERS, plugins=[bakectl_delivery_notes], recipes=[SPONGE, SCONES])
    assert sorted(received, key=lambda r: r[1]["order"]) == [
        ("application/json", {"order": "o-1", "customer": "Alice", "recipe": "sponge",
                              "cakes": 2, "done_minutes": 51.0, "due_minutes": 60,
                              "late": False}),
        ("application/json", {"order": "o/2", "customer": None, "recipe": "scones",
                              "cakes": 1, "done_minutes": 40.0, "due_minutes": 10,
                              "late": True}),
    ]


class FailingScones:
    """An oven driver that cannot bake scones: their order fails, the sponge's is delivered."""

    @hookimpl
    def bakectl_oven_driver(self, clock):
        class Driver:
            def set_temperature(self, oven, temperature_c, minutes):
                clock.block(minutes)

            def bake(self, oven, mixture, minutes):
                if mixture.recipe.name == "scones":
                    raise RuntimeError("the scones tray is missing")
                clock.block(minutes)

        return Driver()


def test_no_note_for_a_failed_order(bakectl_bake, tmp_path, monkeypatch):
    monkeypatch.setenv("BAKECTL_DELIVERY_NOTES_DIR", str(tmp_path))
    report = bakectl_bake(ORDERS, plugins=[bakectl_delivery_notes, FailingScones()],
                          recipes=[SPONGE, SCONES])
    assert [o["status"] for o in report["orders"]] == ["delivered", "failed"]
    assert [p.name for p in tmp_path.iterdir()] == ["o-1.txt"]


def test_an_unreachable_webhook_is_a_plugin_error(bakectl_bake, monkeypatch):
    monkeypatch.setenv("BAKECTL_DELIVERY_WEBHOOK", f"http://127.0.0.1:{closed_port()}/")
    with pytest.raises(PluginError, match="'bakectl_delivery_notes' failed in "
                                          "bakectl_run_finished: RuntimeError: 2 delivery"):
        bakectl_bake(ORDERS, plugins=[bakectl_delivery_notes], recipes=[SPONGE, SCONES])


def test_on_the_command_line_a_failing_webhook_is_one_line_and_the_bake_succeeds(
        bakectl_cli, tmp_path):
    (tmp_path / "recipes").mkdir()
    (tmp_path / "recipes" / "sponge.yaml").write_text(
        "name: sponge\ningredients: [{name: flour, quantity: 200, unit: g}]\n"
        "mix_minutes: 10\noven: {temperature_c: 180, bake_minutes: 25}\n")
    (tmp_path / "orders.yaml").write_text("orders:\n  - {id: o-1, recipe: sponge}\n")
    result = bakectl_cli("bake", "orders.yaml", "--simulate", "--no-progress",
                         plugins=["bakectl_delivery_notes"],
                         env={"BAKECTL_DELIVERY_WEBHOOK": f"http://127.0.0.1:{closed_port()}/"})
    assert result.returncode == 0, result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith("bakectl: plugin 'bakectl_delivery_notes' failed in "
                           "bakectl_run_finished: RuntimeError: 1 delivery note(s) failed")
    assert line.endswith("(disable it with -p no:bakectl_delivery_notes or "
                         "BAKECTL_DISABLE_PLUGINS=bakectl_delivery_notes)")


def test_a_plan_writes_no_notes_and_a_simulated_bake_does(bakectl_cli, tmp_path):
    # A plan is a what-if: it bakes through the plugins but delivers nothing.
    (tmp_path / "recipes").mkdir()
    (tmp_path / "recipes" / "sponge.yaml").write_text(
        "name: sponge\ningredients: [{name: flour, quantity: 200, unit: g}]\n"
        "mix_minutes: 10\noven: {temperature_c: 180, bake_minutes: 25}\n")
    (tmp_path / "orders.yaml").write_text("orders:\n  - {id: o-1, recipe: sponge}\n"
                                          "  - {id: o-2, recipe: sponge, quantity: 2}\n")
    env = {"BAKECTL_DELIVERY_NOTES_DIR": str(tmp_path / "notes")}
    for args in (["--json"], ["--compare"], ["--progress"]):
        planned = bakectl_cli("plan", "orders.yaml", *args, plugins=["bakectl_delivery_notes"],
                              env=env)
        assert planned.returncode == 0, planned.stderr
        assert "order o-1 delivered" not in planned.stderr, args  # progress shows deliveries
        assert not (tmp_path / "notes").exists(), args
    assert "o-2 #2 sponge: baking in oven-" in planned.stderr  # the plan still shows progress
    baked = bakectl_cli("bake", "orders.yaml", "--simulate", "--no-progress",
                        plugins=["bakectl_delivery_notes"], env=env)
    assert baked.returncode == 0, baked.stderr
    assert sorted(p.name for p in (tmp_path / "notes").iterdir()) == ["o-1.txt", "o-2.txt"]
