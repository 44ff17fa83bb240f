"""docs/destinations.md documents every kind, each config key and each context field."""

import dataclasses
import re
from pathlib import Path
from typing import Any

from kenning.activation.destinations import registry
from kenning.activation.destinations.base import DestinationContext
from kenning.activation.destinations.webhook import Webhook
from tests.activation.destinations.make import delivery
from tests.activation.destinations.scripted import ScriptedServer

DOC = Path(__file__).parents[3] / "docs" / "destinations.md"
LOCAL = DestinationContext(allow_private=True, timeout_seconds=1.0)


def sections() -> dict[str, str]:
    parts = re.split(r"^### (\S+)\s*$", DOC.read_text(), flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_every_kind_and_config_key_is_documented() -> None:
    documented = sections()
    for kind, cls in registry.kinds().items():
        assert kind in documented, kind
        for key in cls.config_schema()["properties"]:
            assert f"`{key}`" in documented[kind], f"{kind}.{key}"


def test_every_context_field_is_documented() -> None:
    text = DOC.read_text()
    for field in dataclasses.fields(DestinationContext):
        assert f"| `{field.name}` |" in text, field.name


def test_the_receivers_example_verifies_a_real_webhook(http_server: ScriptedServer) -> None:
    [snippet] = [
        block
        for block in re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.DOTALL)
        if "def verify" in block
    ]
    namespace: dict[str, Any] = {}
    exec(snippet, namespace)
    verify = namespace["verify"]
    secret = "s3cret-of-at-least-16"
    hook = Webhook("crm", {"url": http_server.url, "secret": secret}, LOCAL)
    try:
        hook.send_many([delivery()])
    finally:
        hook.close()
    [request] = http_server.requests
    timestamp, header = (
        request.headers["x-kenning-timestamp"],
        request.headers["x-kenning-signature"],
    )
    assert verify(secret, timestamp, request.body, header)
    assert not verify("another-secret-16-chars", timestamp, request.body, header)
    assert not verify(secret, timestamp, request.body + b" ", header)
    assert not verify(secret, str(int(timestamp) - 600), request.body, header)
