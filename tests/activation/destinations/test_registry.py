"""Kinds are found through entry points: Kenning's own, and a third party's installed beside it."""

import sys
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from kenning.activation.destinations import registry
from kenning.activation.destinations.base import DestinationConfigError, DestinationContext
from kenning.activation.destinations.files import FileExport
from kenning.activation.destinations.segment import SegmentForward
from kenning.activation.destinations.smtp import Email
from kenning.activation.destinations.webhook import Webhook
from tests.activation.destinations.make import delivery

PLUGIN = '''
from typing import Any, ClassVar


class Echo:
    """Delivers everything, and remembers it."""

    kind: ClassVar[str] = "echo"

    def __init__(self, name, config, context):
        unknown = set(config) - {"prefix"}
        if unknown:
            from kenning.activation.destinations.base import DestinationConfigError

            raise DestinationConfigError("unknown key", f"config.{sorted(unknown)[0]}")
        self.name, self.prefix, self.sent = name, config.get("prefix", ""), []

    @classmethod
    def config_schema(cls) -> dict[str, Any]:
        return {"type": "object", "properties": {"prefix": {"type": "string"}}}

    def send_many(self, deliveries):
        from kenning.activation.destinations.base import Outcome

        self.sent.extend(deliveries)
        return [Outcome.delivered(None, self.prefix + d.idempotency_key) for d in deliveries]

    def close(self):
        pass


class Impostor(Echo):
    kind: ClassVar[str] = "webhook"


class Misnamed(Echo):
    kind: ClassVar[str] = "something-else"
'''


def install(site: Path, name: str, module: str, source: str, entries: dict[str, str]) -> None:
    """A distribution as pip leaves it: a module and a .dist-info folder with entry points."""
    (site / f"{module}.py").write_text(source)
    info = site / f"{name.replace('-', '_')}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    lines = "".join(f"{kind} = {target}\n" for kind, target in entries.items())
    (info / "entry_points.txt").write_text(f"[{registry.GROUP}]\n{lines}")


@pytest.fixture()
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    site = tmp_path / "site-packages"
    site.mkdir()
    install(
        site,
        "kenning-echo",
        "kenning_echo",
        PLUGIN,
        {
            "echo": "kenning_echo:Echo",
            "webhook": "kenning_echo:Impostor",
            "misnamed": "kenning_echo:Misnamed",
            "missing": "kenning_echo_gone:Echo",
        },
    )
    monkeypatch.syspath_prepend(str(site))
    yield site
    sys.modules.pop("kenning_echo", None)


def test_the_built_in_kinds_are_registered_as_entry_points() -> None:
    ours = {
        p.name: p.value
        for p in entry_points(group=registry.GROUP)
        if p.dist and p.dist.name == "kenning"
    }
    assert ours == {
        "webhook": "kenning.activation.destinations.webhook:Webhook",
        "email": "kenning.activation.destinations.smtp:Email",
        "file": "kenning.activation.destinations.files:FileExport",
        "segment": "kenning.activation.destinations.segment:SegmentForward",
    }


def test_kinds_without_plugins() -> None:
    assert registry.kinds() == {
        "email": Email,
        "file": FileExport,
        "segment": SegmentForward,
        "webhook": Webhook,
    }


def test_a_third_party_kind_is_found_and_created(plugin: Path) -> None:
    destination = registry.create("echo", "loud", {"prefix": "got "}, DestinationContext())
    assert type(destination).__module__ == "kenning_echo"
    [outcome] = destination.send_many([delivery(5)])
    assert (outcome.status, outcome.detail) == ("delivered", "got key-5")
    with pytest.raises(DestinationConfigError) as raised:
        registry.create("echo", "loud", {"volume": 11}, DestinationContext())
    assert raised.value.field == "config.volume"


def test_a_plugin_cannot_replace_a_built_in_kind(plugin: Path) -> None:
    destination = registry.create(
        "webhook",
        "crm",
        {"url": "https://example.com/in", "secret": "s" * 16},
        DestinationContext(),
    )
    assert isinstance(destination, Webhook)
    destination.close()


def test_a_broken_registration_is_an_error_naming_the_kind(plugin: Path) -> None:
    for kind, says in (
        ("missing", "could not be loaded"),
        ("misnamed", "whose kind is 'misnamed'"),
    ):
        with pytest.raises(DestinationConfigError, match=says) as raised:
            registry.create(kind, "x", {}, DestinationContext())
        assert raised.value.field == "kind"


def test_an_unknown_kind_names_the_known_ones() -> None:
    with pytest.raises(DestinationConfigError) as raised:
        registry.create("pigeon", "x", {}, DestinationContext())
    assert raised.value.field == "kind"
    assert (
        raised.value.message
        == "unknown destination kind 'pigeon' (known: email, file, segment, webhook)"
    )


def test_a_bad_config_through_the_registry_names_its_field() -> None:
    with pytest.raises(DestinationConfigError) as raised:
        registry.create("file", "f", {"folder": "out", "format": "xml"}, DestinationContext())
    assert raised.value.field == "config.format"
    assert str(raised.value).startswith("config.format: ")


def test_every_kind_publishes_a_schema_that_refuses_unknown_keys() -> None:
    for kind, cls in registry.kinds().items():
        schema = cls.config_schema()
        assert schema["type"] == "object", kind
        assert schema["additionalProperties"] is False, kind
        assert schema["properties"], kind
