"""What an API token may do. Write keys only collect; every other endpoint needs a bearer
token carrying the endpoint's scope, or ``admin``, which carries every scope."""

ADMIN = "admin"
PROFILES_READ = "profiles:read"
PII_READ = "pii:read"
CONSENT_WRITE = "consent:write"
AUDIENCES_WRITE = "audiences:write"
ACTIVATION_READ = "activation:read"
ACTIVATION_WRITE = "activation:write"
ANALYTICS_READ = "analytics:read"
ANALYTICS_WRITE = "analytics:write"
PRIVACY_ADMIN = "privacy:admin"

SCOPES: dict[str, str] = {
    ADMIN: "everything, including what every other scope allows",
    PROFILES_READ: "the Profile API, audiences and computed traits, with PII masked",
    PII_READ: "PII unmasked wherever the token may read profiles or deliveries",
    CONSENT_WRITE: "record a person's consent choices (a preference centre)",
    AUDIENCES_WRITE: "declare, change and evaluate audiences; lookalike audiences",
    ACTIVATION_READ: "destinations, campaigns and deliveries",
    ACTIVATION_WRITE: "declare destinations and campaigns; replay deliveries",
    ANALYTICS_READ: "journeys, funnels, attribution and predictions",
    ANALYTICS_WRITE: "import spend; run the predictions",
    PRIVACY_ADMIN: "regulation requests, access exports, the audit log, deletion checks",
}


def allows(held: tuple[str, ...], scope: str) -> bool:
    """Whether a token holding ``held`` may use what ``scope`` guards."""
    return scope in held or ADMIN in held
