"""Size limits of the collection API, after Segment's HTTP Tracking API."""

from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True)
class Limits:
    """The limits a collection request is held to.

    The defaults are Segment's published limits, so a payload Segment accepts is accepted here.
    """

    max_event_bytes: int = 32 * 1024
    max_request_bytes: int = 500 * 1024
    max_batch_events: int = 2_500
    # "messageId under 100 characters": 99 is the longest accepted.
    max_message_id_chars: int = 99
    # Segment treats a timestamp more than 23 hours ahead of receipt as a client clock error.
    max_future: timedelta = timedelta(hours=23)
    # Ours: Segment publishes no nesting limit, and no SDK nests a message anywhere near this
    # deep. A deeper message is quarantined (too_deep), not refused, so raising the limit and
    # replaying recovers it (spec/nesting.py).
    max_depth: int = 32


DEFAULT_LIMITS = Limits()
