"""The backend that sends each command to a running server over HTTP."""

from kenning.cli.backend.activation import RemoteActivation
from kenning.cli.backend.analytics import RemoteAnalytics
from kenning.cli.backend.audiences import RemoteAudiences
from kenning.cli.backend.events import RemoteEvents
from kenning.cli.backend.identity import RemoteIdentity
from kenning.cli.backend.predictions import RemotePredictions
from kenning.cli.backend.privacy import RemotePrivacy
from kenning.cli.backend.profiles import RemoteProfiles


class RemoteBackend(
    RemoteEvents,
    RemoteIdentity,
    RemoteProfiles,
    RemoteAudiences,
    RemoteActivation,
    RemoteAnalytics,
    RemotePredictions,
    RemotePrivacy,
):
    """Every area's commands through a server: ``RemoteBackend(url, token)``."""
