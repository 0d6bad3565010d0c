"""A real ``bakectl serve`` in a subprocess, on an ephemeral 127.0.0.1 port, with a real
SQLite file: what the server tests and the docs test talk to."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import quote

import httpx
from conftest import ROOT, cli_env, run_cli

TESTS = Path(__file__).resolve().parent
LISTENING = re.compile(r"listening on (http://\S+)")


class Lines:
    """The lines of a child process's pipe, read by a thread as they come (a full pipe would
    stall the child)."""

    def __init__(self, pipe):
        self.lines: list[str] = []
        self.ended = False
        self._changed = threading.Condition()
        threading.Thread(target=self._read, args=(pipe,), daemon=True).start()

    def _read(self, pipe) -> None:
        for line in pipe:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self.ended = True
            self._changed.notify_all()

    def wait_for(self, text: str, *, count: int = 1, timeout: float = 20) -> str | None:
        """The `count`th line containing `text`, once it has come; None if the pipe ends or
        `timeout` passes first."""
        def found():
            matching = [line for line in self.lines if text in line]
            return matching[count - 1] if len(matching) >= count else None

        with self._changed:
            self._changed.wait_for(lambda: found() is not None or self.ended, timeout)
            return found()

    def all(self, timeout: float = 20) -> list[str]:
        """Every line, once the pipe has ended (the child has exited)."""
        with self._changed:
            assert self._changed.wait_for(lambda: self.ended, timeout), "the pipe is open"
            return self.lines


class Server:
    """``with Server(tmp_path, "--speed", "6000") as server: server.client.get(...)``"""

    def __init__(self, folder: Path, *args: str, db: Path | None = None, **env: str):
        self.folder = folder
        self.db = db or folder / "bakery.db"
        self.deliveries = folder / "delivered.txt"
        self.args = ["--port", "0", "--db", str(self.db), "--grace", "0.5", *args]
        self.env = cli_env(PYTHONPATH=str(TESTS), BAKECTL_TEST_DELIVERIES=str(self.deliveries),
                           **env)
        self.lines: list[str] = []
        self.proc: subprocess.Popen | None = None
        self.url = ""

    def start(self, timeout: float = 20) -> Server:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bakectl", "-p", "no:yaml_recipes", "-p", "serve_plugin",
             "serve", *self.args], cwd=self.folder, env=self.env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        stderr = Lines(self.proc.stderr)
        self.lines = stderr.lines
        match = LISTENING.search(stderr.wait_for("listening on", timeout=timeout) or "")
        if not match:
            self.proc.kill()
            raise AssertionError("the server did not start:\n" + "\n".join(self.lines))
        self.url = match.group(1)
        self.client = httpx.Client(base_url=self.url, timeout=10)
        return self

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
        """Send `sig` and return the exit code."""
        self.client.close()
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()

    @property
    def stderr(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, order_id: str, *statuses: str, timeout: float = 20) -> dict:
        """Poll the order until its status is one of `statuses` (bounded)."""
        deadline = time.monotonic() + timeout
        while True:
            order = self.client.get(f"/orders/{quote(order_id, safe='')}").json()
            if order.get("status") in statuses or time.monotonic() > deadline:
                assert order.get("status") in statuses, order
                return order
            time.sleep(0.02)

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.stop()
            self.proc.stdout.close()


def serve_refused(folder: Path, *args: str, timeout: float = 30, **env: str
                  ) -> subprocess.CompletedProcess:
    """``bakectl serve --port 0 ARGS`` in `folder`, for a server that must refuse to start:
    the finished process (a server that starts all the same runs into `timeout`)."""
    return run_cli("-p", "no:yaml_recipes", "-p", "serve_plugin", "serve", "--port", "0",
                   *args, cwd=folder, timeout=timeout, PYTHONPATH=str(TESTS), **env)


def one_line(result: subprocess.CompletedProcess) -> str:
    """The one line a refused command printed on stderr (and nothing else)."""
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.endswith("\n"), result.stderr
    return result.stderr.rstrip("\n")


__all__ = ["ROOT", "Lines", "Server", "one_line", "serve_refused"]
