"""Every curl example of docs/server.md, run in order against a real server: the status it
answers must be the one written under it, and the JSON after it must have the fields shown
(with the same values for the fields that do not depend on the clock)."""

from __future__ import annotations

import json
import re
import shlex

from conftest import ROOT
from serving import Server

DOC = ROOT / "docs" / "server.md"
EXAMPLE = re.compile(r"```sh\n(curl [^\n]*)\n# → (\d{3})\n```(?:\s*```json\n(.*?)```)?", re.S)
DOC_URL = "http://127.0.0.1:8080"
#: fields whose documented values must be the real ones (the rest are times and estimates)
STABLE = {"id", "recipe", "quantity", "customer", "title", "field", "message", "detail",
          "name", "items"}


def examples():
    return [(command, int(status), json.loads(body) if body else None)
            for command, status, body in EXAMPLE.findall(DOC.read_text(encoding="utf-8"))]


def curl(client, command: str):
    """Run a curl command line (the options the docs use) with httpx."""
    words = shlex.split(command)[1:]
    method, headers, data, url = "GET", {}, None, None
    while words:
        word = words.pop(0)
        if word == "-s":
            continue
        if word == "-X":
            method = words.pop(0)
        elif word == "-H":
            name, _, value = words.pop(0).partition(": ")
            headers[name] = value
        elif word == "-d":
            data = words.pop(0)
            method = "POST" if method == "GET" else method
        else:
            url = word
    return client.request(method, url.removeprefix(DOC_URL), headers=headers, content=data)


def same_shape(documented, actual, where="") -> None:
    if isinstance(documented, dict):
        assert isinstance(actual, dict), where
        for key, value in documented.items():
            assert key in actual, f"{where}.{key} is documented but missing"
            if key in STABLE and not isinstance(value, list | dict):
                assert actual[key] == value, f"{where}.{key}: {actual[key]!r} != {value!r}"
            same_shape(value, actual[key], f"{where}.{key}")
    elif isinstance(documented, list) and documented:
        assert isinstance(actual, list) and actual, where
        same_shape(documented[0], actual[0], f"{where}[0]")


def test_the_curl_examples_answer_as_documented(tmp_path):
    found = examples()
    assert len(found) >= 9
    # Speed 1, as in the docs: the sponge stays in the mixer while the examples run.
    with Server(tmp_path) as server:
        assert server.url.startswith("http://127.0.0.1:")
        for command, status, body in found:
            response = curl(server.client, command)
            assert response.status_code == status, (command, response.text)
            if body is not None:
                same_shape(body, response.json(), command[:60])
