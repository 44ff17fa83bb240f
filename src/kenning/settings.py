"""Runtime settings, from arguments and the environment (``KENNING_*``)."""

import os
from dataclasses import dataclass, field
from pathlib import Path

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
    admin_token: str | None = None
    limits: Limits = field(default_factory=lambda: DEFAULT_LIMITS)
    max_group_events: int = 2_000
    linger_seconds: float = 0.0

    @classmethod
    def from_env(cls, **overrides: object) -> "Settings":
        values: dict[str, object] = {}
        if "KENNING_DB" in os.environ:
            values["db_path"] = Path(os.environ["KENNING_DB"])
        if os.environ.get("KENNING_ADMIN_TOKEN"):
            values["admin_token"] = os.environ["KENNING_ADMIN_TOKEN"]
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]
