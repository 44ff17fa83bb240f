"""The application factory."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from kenning.api import admin, collect, identity, profiles
from kenning.api.errors import install_error_handlers
from kenning.api.ratelimit import RateLimiter
from kenning.settings import Settings
from kenning.store.store import Store


def create_app(settings: Settings, store: Store | None = None) -> FastAPI:
    """Build the Kenning HTTP app. With no ``store``, it opens ``settings.db_path`` on start-up
    and closes it on shutdown."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = store is None
        app.state.store = (
            Store.open(
                settings.db_path,
                max_group_events=settings.max_group_events,
                linger_seconds=settings.linger_seconds,
                identity_rules=settings.identity,
                matching=settings.matching,
                profiles=settings.profiles,
            )
            if owned
            else store
        )
        try:
            yield
        finally:
            if owned:
                app.state.store.close()

    app = FastAPI(title="Kenning", version="0.1.0", lifespan=lifespan)
    app.state.settings = settings
    app.state.rate_limiter = RateLimiter()
    if store is not None:
        app.state.store = store
    install_error_handlers(app)
    app.include_router(collect.router)
    app.include_router(admin.router)
    app.include_router(identity.router)
    app.include_router(profiles.router)

    @app.get("/health", include_in_schema=False)
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app
