"""The backend that runs each command on the store file directly."""

from kenning.cli.backend.activation import LocalActivation
from kenning.cli.backend.analytics import LocalAnalytics
from kenning.cli.backend.audiences import LocalAudiences
from kenning.cli.backend.events import LocalEvents
from kenning.cli.backend.identity import LocalIdentity
from kenning.cli.backend.predictions import LocalPredictions
from kenning.cli.backend.privacy import LocalPrivacy
from kenning.cli.backend.profiles import LocalProfiles


class LocalBackend(
    LocalEvents,
    LocalIdentity,
    LocalProfiles,
    LocalAudiences,
    LocalActivation,
    LocalAnalytics,
    LocalPredictions,
    LocalPrivacy,
):
    """Every area's commands on an open store: ``LocalBackend(store, settings)``."""
