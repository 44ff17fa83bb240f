"""The HTTP API fuzzed with schemathesis against a live server's own OpenAPI schema: no input
makes it answer 5xx, and input its schema rules out is refused with a 4xx.

Many endpoints read a free-form JSON body and validate it in code (an audience's condition, a
funnel), so the server's schema declares no body for them; ``fuzzed_schema`` gives each such
operation a loose one (any JSON object, a Segment message for collection, text for the CSV
uploads), so the fuzzer sends bodies there too. The run is reproducible (deterministic
generation, which keeps no example database either) and bounded (``MAX_EXAMPLES`` per
operation, the client's rate under the server's limit). docs/security.md says how to run it
longer by hand.
"""

import copy
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.live import ADMIN_TOKEN, LiveServer

# Per operation and phase: about 4,000 requests, 80 s here (docs/security.md); more by hand.
MAX_EXAMPLES = int(os.environ.get("KENNING_FUZZ_EXAMPLES", "20"))
# A bound on one run, far above what it takes (see docs/security.md), not a target.
TIMEOUT_SECONDS = 600
SCHEMATHESIS = [sys.executable, "-m", "schemathesis.cli"]

COLLECTION_SINGLE = ("identify", "track", "page", "screen", "group", "alias")
COLLECTION_BATCH = ("/v1/batch", "/v1/import")
COLLECTION_PATHS = (
    "^(" + "|".join([*COLLECTION_BATCH, *(f"/v1/{t}" for t in COLLECTION_SINGLE)]) + ")$"
)
# What the fuzzer must not call, and why.
EXCLUDED = {
    # A destination sends to the address it is given, and a fuzzed one could name any host on
    # the internet: this test makes no connection beyond loopback. The guard that stands
    # between a destination and the network is tested in tests/activation/destinations.
    "PUT /v1/destinations/{name}": "connects to what it names",
}
# FastAPI reads its models in pydantic's lax mode: true is taken for 1, a number of seconds for
# a date. The schema says otherwise, so the fuzzer's "wrong type" is accepted; the value is
# still checked after the coercion, and server errors are still looked for.
LAX = (
    "GET /v1/audit",
    "GET /v1/events/export",
    "GET /v1/spend",
    "POST /v1/identity/households",
    "POST /v1/quarantine/replay",
    "POST /v1/sources",
    "PUT /v1/sources/{name}/retention",
)
# Operations that read no body, or may go without one.
NO_BODY = {
    "POST /v1/audiences/evaluate",
    "POST /v1/computed-traits/refresh",
    "POST /v1/destinations/{name}/snapshot",
    "POST /v1/identity/rebuild",
    "POST /v1/identity/reviews/{review_id}/{decision}",
    "POST /v1/privacy/retention",
    "POST /v1/profiles/recompute",
}
OPTIONAL_BODY = {"POST /v1/predictions/run"}
CSV_BODIES = {"PUT /v1/spend", "POST /v1/attribution/paths"}

# A Segment message, loosely: the fields the spec constrains, of their types, and anything else.
MESSAGE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "userId": {"type": "string"},
        "anonymousId": {"type": "string"},
        "messageId": {"type": "string"},
        "event": {"type": "string"},
        "name": {"type": "string"},
        "groupId": {"type": "string"},
        "previousId": {"type": "string"},
        "timestamp": {"type": "string", "format": "date-time"},
        "properties": {"type": "object"},
        "traits": {"type": "object"},
        "context": {"type": "object"},
    },
}


def _json_body(schema: dict[str, Any], required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {"application/json": {"schema": schema}}}


def fuzzed_schema(served: dict[str, Any]) -> dict[str, Any]:
    """The server's schema, with a loose body for each operation that reads one in code."""
    schema = copy.deepcopy(served)
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            name = f"{method.upper()} {path}"
            if method not in ("post", "put", "patch") or "requestBody" in operation:
                continue
            if name in NO_BODY:
                continue
            if path in COLLECTION_BATCH:
                batch = {"type": "array", "items": MESSAGE}
                body = {"type": "object", "properties": {"batch": batch}, "required": ["batch"]}
                operation["requestBody"] = _json_body(body)
            elif path == "/v1/sources/{name}/import":
                # Messages are judged one by one there (quarantined, not refused): only the
                # envelope is a schema the endpoint refuses to be broken.
                body = {"type": "object", "properties": {"batch": {"type": "array"}}}
                operation["requestBody"] = _json_body({**body, "required": ["batch"]})
            elif path.removeprefix("/v1/") in COLLECTION_SINGLE:
                operation["requestBody"] = _json_body(MESSAGE)
            elif name in CSV_BODIES:
                text = {"schema": {"type": "string"}}
                operation["requestBody"] = {"required": True, "content": {"text/plain": text}}
            else:
                operation["requestBody"] = _json_body({"type": "object"}, name not in OPTIONAL_BODY)
    return schema


def config_toml(checks: tuple[str, ...]) -> str:
    """schemathesis.toml: the checks, the client's rate under the server's per-token limit
    (100 a second), the operations left out, and those whose coercions the negative check
    would flag."""
    lines = ['rate-limit = "90/s"', "", "[checks]", "enabled = false"]
    lines += [f"{check}.enabled = true" for check in checks]
    for name in EXCLUDED:
        lines += ["", "[[operations]]", f"include-name = {json.dumps(name)}", "enabled = false"]
    if "negative_data_rejection" in checks:
        for name in LAX:
            lines += ["", "[[operations]]", f"include-name = {json.dumps(name)}"]
            lines += ["checks.negative_data_rejection.enabled = false"]
    return "\n".join(lines) + "\n"


def run_schemathesis(
    schema_file: Path, base_url: str, checks: tuple[str, ...], *options: str, name: str
) -> subprocess.CompletedProcess[str]:
    """One bounded, reproducible run of the schemathesis CLI; its output is kept beside the
    schema (``fuzz-<name>.log``)."""
    config = schema_file.with_name(f"schemathesis-{name}.toml")
    config.write_text(config_toml(checks))
    command = [
        *SCHEMATHESIS,
        "--config-file",
        str(config),
        "run",
        str(schema_file),
        "--url",
        base_url,
        "--phases",
        "coverage,fuzzing",
        "--max-examples",
        str(MAX_EXAMPLES),
        # Deterministic generation keeps no example database either: nothing is written
        # into the repository, and every run sends the same requests.
        "--generation-deterministic",
        # One worker: hypothesis describes strategies with ast.parse, which on Python 3.11
        # is not safe across threads (a SystemError, "AST constructor recursion depth
        # mismatch", failed a CI run with two).
        "--workers",
        "1",
        "--request-timeout",
        "60",
        "--no-color",
        *options,
    ]
    finished = subprocess.run(
        command,
        capture_output=True,
        text=True,
        # The run writes nothing into the repository: its cache and reports go here.
        cwd=schema_file.parent,
        timeout=TIMEOUT_SECONDS,
        check=False,
    )
    schema_file.with_name(f"fuzz-{name}.log").write_text(finished.stdout + finished.stderr)
    return finished


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server of its own: what the fuzzer declares and deletes touches no other test."""
    live = LiveServer(tmp_path_factory.mktemp("fuzz") / "kenning.duckdb").start()
    yield live
    live.stop()


@pytest.fixture(scope="module")
def schema_file(fuzz_server: LiveServer) -> Path:
    served = httpx.get(fuzz_server.url + "/openapi.json").json()
    path = fuzz_server.db.parent / "openapi.json"
    path.write_text(json.dumps(fuzzed_schema(served)))
    return path


def _server_errors(server: LiveServer) -> str:
    log = server.log.read_text(errors="replace")
    return log[log.find("Traceback") :][:4000] if "Traceback" in log else "(no traceback logged)"


def test_no_input_makes_the_api_fail_or_accepts_what_its_schema_refuses(
    fuzz_server: LiveServer, schema_file: Path
) -> None:
    """Every operation but collection, with the admin token."""
    started = time.monotonic()
    finished = run_schemathesis(
        schema_file,
        fuzz_server.url,
        ("not_a_server_error", "negative_data_rejection"),
        "--header",
        f"Authorization: Bearer {ADMIN_TOKEN}",
        "--exclude-path-regex",
        COLLECTION_PATHS,
        name="admin",
    )
    report = finished.stdout[-6000:]
    assert finished.returncode == 0, f"{report}\n\nserver log:\n{_server_errors(fuzz_server)}"
    print(f"admin API fuzzed in {time.monotonic() - started:.0f} s\n{report[-1500:]}")


def test_no_message_makes_collection_fail(fuzz_server: LiveServer, schema_file: Path) -> None:
    """Collection answers a batch of invalid messages 200 (they are quarantined, Segment's
    way), so only server errors are looked for here."""
    write_key = fuzz_server.create_source("fuzzed")
    started = time.monotonic()
    finished = run_schemathesis(
        schema_file,
        fuzz_server.url,
        ("not_a_server_error",),
        "--auth",
        f"{write_key}:",
        "--include-path-regex",
        COLLECTION_PATHS,
        name="collection",
    )
    report = finished.stdout[-6000:]
    assert finished.returncode == 0, f"{report}\n\nserver log:\n{_server_errors(fuzz_server)}"
    print(f"collection fuzzed in {time.monotonic() - started:.0f} s\n{report[-1500:]}")
