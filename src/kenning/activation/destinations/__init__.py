"""Destinations: where the outbox's deliveries go (docs/destinations.md).

Each kind is a class registered under the ``kenning.destinations`` entry points, Kenning's own
as a plugin's would be (``registry.py``): ``webhook`` (``webhook.py``), ``email``
(``smtp.py``), ``file`` (``files.py``) and ``segment`` (``segment.py``). They share the
interface (``base.py``), the address guard (``network.py``) and, over HTTP, the guarded
client with its redirect rule and status classification (``transport.py``).
"""

from kenning.activation.destinations.base import (
    Delivery,
    Destination,
    DestinationConfigError,
    DestinationContext,
    Outcome,
)
from kenning.activation.destinations.registry import create, kinds
from kenning.activation.destinations.webhook import verify_signature

__all__ = [
    "Delivery",
    "Destination",
    "DestinationConfigError",
    "DestinationContext",
    "Outcome",
    "create",
    "kinds",
    "verify_signature",
]
