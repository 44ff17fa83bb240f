"""A profile as a reader may see it, the same for every surface (the Profile API, the
console): personal values masked for a reader without ``pii:read``, predictions left out for
a person who does not let themselves be profiled."""

from typing import TYPE_CHECKING, Any

from kenning.privacy.pii import Masker
from kenning.privacy.profiling import may_profile
from kenning.profiles.rows import profile_ids

if TYPE_CHECKING:
    from kenning.privacy.settings import PrivacySettings
    from kenning.store.store import Store


def profile_as_seen(
    store: "Store", privacy: "PrivacySettings", held: dict[str, Any], *, pii_read: bool
) -> dict[str, Any]:
    """``held`` (``profiles.read.profile``) as a reader with or without ``pii:read`` sees it."""
    if held.get("predictions"):
        with store.reader() as con:
            ids = profile_ids(con, int(held["profile_id"]))
            allowed = may_profile(con, ids, privacy.consent.profiling)
        if not allowed:
            held = {**held, "predictions": {}}
    return held if pii_read else Masker(privacy.pii).profile(held)
