"""Runtime settings, from arguments and the environment (``KENNING_*``)."""

import dataclasses
import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from kenning.activation.delivery import DeliverySettings
from kenning.activation.destinations.base import DestinationContext
from kenning.api.hardening import HardeningLimits
from kenning.errors import FieldError
from kenning.identity.matching.settings import MatchSettings
from kenning.identity.rules import IdentityRules
from kenning.journeys.settings import JourneySettings
from kenning.predictions.settings import PredictionSettings
from kenning.privacy.settings import PrivacySettings
from kenning.profiles.state import ProfileSettings
from kenning.spec.limits import DEFAULT_LIMITS, Limits

DEFAULT_DB = Path("kenning.duckdb")


@dataclass(frozen=True)
class Settings:
    """How a Kenning store and server run.

    ``admin_token``: when set (``KENNING_ADMIN_TOKEN``), this token is the admin token; otherwise
    one is generated at the first start and printed once.
    """

    db_path: Path = DEFAULT_DB
    host: str = "127.0.0.1"
    port: int = 8000
    admin_token: str | None = field(default=None, repr=False)
    limits: Limits = field(default_factory=lambda: DEFAULT_LIMITS)
    max_group_events: int = 2_000
    linger_seconds: float = 0.0
    # Processes beside the server's that prepare large collection batches (ingest/workers.py;
    # ``KENNING_INGEST_WORKERS``): by default one where there is a second core, none otherwise.
    ingest_workers: int = field(default_factory=lambda: 1 if (os.cpu_count() or 1) > 1 else 0)
    identity: IdentityRules = field(default_factory=IdentityRules)
    matching: MatchSettings = field(default_factory=MatchSettings)
    profiles: ProfileSettings = field(default_factory=ProfileSettings)
    # How often a server evaluates every audience in batch (docs/audiences.md), in minutes.
    audience_batch_minutes: float = 60.0
    # Retries and batches of the delivery service (docs/activation.md).
    delivery: DeliverySettings = field(default_factory=DeliverySettings)
    # Destinations may reach private, loopback and link-local addresses only when allowed:
    # all of them (``KENNING_ALLOW_PRIVATE_DESTINATIONS=1``), or the networks listed.
    allow_private_destinations: bool = False
    allowed_networks: tuple[str, ...] = ()
    # Channels and touches (docs/journeys.md).
    journeys: JourneySettings = field(default_factory=JourneySettings)
    # Orders and the models fitted on them (docs/predictions.md).
    predictions: PredictionSettings = field(default_factory=PredictionSettings)
    # The store's file encrypted at rest with this key (``KENNING_ENCRYPTION_KEY``; never
    # written anywhere, never logged).
    encryption_key: str | None = field(default=None, repr=False)
    # Request limits and per-token rate limits of the HTTP API (docs/security.md).
    hardening: HardeningLimits = field(default_factory=HardeningLimits)
    # Consent categories, PII classification, retention (docs/privacy.md).
    privacy: PrivacySettings = field(default_factory=PrivacySettings)

    @classmethod
    def from_env(cls, config: Path | None = None, **overrides: object) -> "Settings":
        """Settings from a configuration file (``--config`` or ``KENNING_CONFIG``), the
        environment, and explicit overrides, each winning over the one before."""
        values: dict[str, object] = {}
        path = config or (
            Path(os.environ["KENNING_CONFIG"]) if os.environ.get("KENNING_CONFIG") else None
        )
        if path is not None:
            values.update(load_config(path))
        if "KENNING_DB" in os.environ:
            values["db_path"] = Path(os.environ["KENNING_DB"])
        if os.environ.get("KENNING_ADMIN_TOKEN"):
            values["admin_token"] = os.environ["KENNING_ADMIN_TOKEN"]
        if os.environ.get("KENNING_ENCRYPTION_KEY"):
            values["encryption_key"] = os.environ["KENNING_ENCRYPTION_KEY"]
        if os.environ.get("KENNING_INGEST_WORKERS"):
            values["ingest_workers"] = _ingest_workers(os.environ["KENNING_INGEST_WORKERS"])
        if os.environ.get("KENNING_ALLOW_PRIVATE_DESTINATIONS", "").lower() in ("1", "true"):
            values["allow_private_destinations"] = True
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]


class ConfigError(ValueError):
    pass


def _ingest_workers(text: str) -> int:
    if not text.strip().isdigit():
        raise ConfigError(f"KENNING_INGEST_WORKERS must be a whole number (0: none); got {text!r}")
    return int(text)


def load_config(path: Path) -> dict[str, object]:
    """Read a YAML configuration file. Sections: ``identity`` and ``matching`` (see
    docs/identity.md), ``profiles`` (docs/profiles.md), ``audiences`` (``batch_minutes``,
    docs/audiences.md), ``activation`` (docs/activation.md), ``journeys`` (docs/journeys.md),
    ``predictions`` (docs/predictions.md), ``privacy`` (docs/privacy.md)."""
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except OSError as error:
        raise ConfigError(f"cannot read {path}: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {error}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping of sections")
    sections = {
        "identity", "matching", "profiles", "audiences", "activation", "journeys", "predictions",
        "privacy", "api",
    }  # fmt: skip
    unknown = sorted(set(data) - sections)
    if unknown:
        raise ConfigError(f"{path}: unknown sections {', '.join(unknown)}")
    values: dict[str, object] = {}
    if "identity" in data:
        values["identity"] = IdentityRules.from_config(data["identity"] or {})
    if "matching" in data:
        values["matching"] = MatchSettings.from_config(data["matching"] or {})
    if "profiles" in data:
        try:
            values["profiles"] = ProfileSettings.from_config(data["profiles"] or {})
        except ValueError as error:
            raise ConfigError(f"{path}: {error}") from None
    if "audiences" in data:
        section = data["audiences"] or {}
        minutes = section.get("batch_minutes", 60.0) if isinstance(section, dict) else None
        if (
            not isinstance(section, dict)
            or set(section) - {"batch_minutes"}
            or isinstance(minutes, bool)
            or not isinstance(minutes, int | float)
            or minutes <= 0
        ):
            raise ConfigError(f"{path}: audiences takes batch_minutes, a positive number")
        values["audience_batch_minutes"] = float(minutes)
    if "activation" in data:
        values.update(_activation(path, data["activation"] or {}))
    if "journeys" in data:
        try:
            values["journeys"] = JourneySettings.from_config(data["journeys"])
        except FieldError as error:
            raise ConfigError(f"{path}: {error}") from None
    if "predictions" in data:
        try:
            values["predictions"] = PredictionSettings.from_config(data["predictions"])
        except FieldError as error:
            raise ConfigError(f"{path}: {error}") from None
    if "privacy" in data:
        try:
            values["privacy"] = PrivacySettings.from_config(data["privacy"])
        except FieldError as error:
            raise ConfigError(f"{path}: {error}") from None
    if "api" in data:
        values["hardening"] = _api(path, data["api"] or {})
    return values


def _api(path: Path, section: object) -> HardeningLimits:
    """``api``: the limits every request is held to (``HardeningLimits``), each a positive
    number; a system that reads profiles for personalisation may need a higher
    ``token_rate``."""
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: api is a mapping")
    defaults = HardeningLimits()
    known = {f.name: getattr(defaults, f.name) for f in dataclasses.fields(HardeningLimits)}
    unknown = sorted(set(section) - set(known))
    if unknown:
        raise ConfigError(f"{path}: api has no setting {unknown[0]!r}")
    for name, value in section.items():
        whole = isinstance(known[name], int)
        if (
            isinstance(value, bool)
            or not isinstance(value, int if whole else int | float)
            or value <= 0
        ):
            kind = "a positive whole number" if whole else "a positive number"
            raise ConfigError(f"{path}: api.{name} is {kind}")
    return dataclasses.replace(defaults, **section)


def _activation(path: Path, section: object) -> dict[str, object]:
    """``activation``: the delivery service's settings, ``allow_private_destinations`` and
    ``allowed_networks`` (CIDRs destinations may reach though private)."""
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: activation is a mapping")
    values: dict[str, object] = {}
    rest = dict(section)
    allow = rest.pop("allow_private_destinations", False)
    if not isinstance(allow, bool):
        raise ConfigError(f"{path}: activation.allow_private_destinations is true or false")
    values["allow_private_destinations"] = allow
    networks = rest.pop("allowed_networks", [])
    if not isinstance(networks, list) or not all(isinstance(n, str) for n in networks):
        raise ConfigError(f"{path}: activation.allowed_networks is a list of CIDRs")
    for network in networks:
        try:
            ipaddress.ip_network(network, strict=False)
        except ValueError:
            raise ConfigError(
                f"{path}: activation.allowed_networks: {network!r} is no CIDR"
            ) from None
    values["allowed_networks"] = tuple(networks)
    try:
        values["delivery"] = DeliverySettings.from_config(rest)
    except ValueError as error:
        raise ConfigError(f"{path}: {error}") from None
    return values


def destination_context(settings: Settings) -> DestinationContext:
    """What destinations may do under these settings; a file destination's relative folder is
    beside the store's file."""
    return DestinationContext(
        allow_private=settings.allow_private_destinations,
        allowed_networks=settings.allowed_networks,
        data_dir=settings.db_path.resolve().parent,
    )
