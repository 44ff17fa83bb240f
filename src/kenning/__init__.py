"""Kenning: an open-source Customer Data Platform.

Collect every customer action, resolve identity, keep a unified profile, understand and act.
The public Python API is deliberately small; see ``__all__``.
"""

from kenning.settings import Settings
from kenning.store.store import Store

__version__ = "0.1.0"

__all__ = ["Settings", "Store", "__version__"]
