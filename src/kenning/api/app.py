"""The application factory."""

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from kenning.api import (
    activation,
    admin,
    attribution,
    audiences,
    collect,
    coverage,
    identity,
    journeys,
    predictions,
    privacy,
    profiles,
    traits,
)
from kenning.api.audit import AuditTrail
from kenning.api.errors import install_error_handlers
from kenning.api.hardening import install_hardening
from kenning.api.ratelimit import RateLimiter
from kenning.console.pages import install_console
from kenning.ingest.workers import PreparePool
from kenning.privacy.regulations import Regulations
from kenning.privacy.retention import apply_retention
from kenning.settings import Settings, destination_context
from kenning.store.store import Store

log = logging.getLogger(__name__)


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
                encryption_key=settings.encryption_key,
            )
            if owned
            else store
        )
        app.state.store.build_documents()
        app.state.store.evaluate_audiences(settings.audience_batch_minutes)
        app.state.store.deliver(settings.delivery, destination_context(settings))
        refresher = asyncio.create_task(
            _refresh_windows(app.state.store, settings.profiles.window_refresh_minutes * 60)
        )
        predictor = asyncio.create_task(_rerun_predictions(app.state.store, settings))
        app.state.regulations = Regulations(
            app.state.store, lambda: privacy.export_folders_of(app.state.store, settings)
        )
        retention = asyncio.create_task(
            _apply_retention(app.state.store, settings.privacy.retention_hours)
        )
        try:
            yield
        finally:
            refresher.cancel()
            predictor.cancel()
            retention.cancel()
            if app.state.prepare_pool is not None:
                app.state.prepare_pool.close()
            if owned:
                app.state.store.close()

    app = FastAPI(title="Kenning", version="0.1.0", lifespan=lifespan)
    app.state.settings = settings
    app.state.rate_limiter = RateLimiter()
    app.state.prepare_pool = (
        PreparePool(settings.ingest_workers) if settings.ingest_workers > 0 else None
    )
    if store is not None:
        app.state.store = store
    install_error_handlers(app)
    app.add_middleware(AuditTrail)
    app.add_middleware(collect.CollectionFront)
    # Outermost: a request over a limit is refused before anything else reads it.
    install_hardening(app, settings)
    app.include_router(collect.router)
    app.include_router(admin.router)
    app.include_router(identity.router)
    app.include_router(profiles.router)
    app.include_router(traits.readers)
    app.include_router(traits.router)
    app.include_router(coverage.router)
    app.include_router(audiences.readers)
    app.include_router(audiences.writers)
    app.include_router(activation.readers)
    app.include_router(activation.writers)
    app.include_router(journeys.profiles)
    app.include_router(journeys.analytics)
    app.include_router(attribution.readers)
    app.include_router(attribution.writers)
    app.include_router(predictions.readers)
    app.include_router(predictions.writers)
    app.include_router(predictions.audience_writers)
    app.include_router(privacy.admins)
    app.include_router(privacy.consent_writers)
    app.include_router(privacy.readers)
    install_console(app)

    @app.get("/health", include_in_schema=False)
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


async def _refresh_windows(store: Store, every_seconds: float) -> None:
    """The scheduled batch of windowed computed traits: events that left a window stop
    counting (new events count on ingest)."""
    while True:
        await asyncio.sleep(every_seconds)
        if not any(d.window for d in store.computed.definitions.values()):
            continue
        try:
            names = await asyncio.wrap_future(store.writer.run(store.computed.refresh_windows))
            log.info("refreshed %d windowed trait(s)", len(names))
        except Exception:  # keep the schedule; the next run tries again
            log.exception("refreshing windowed traits failed")


async def _apply_retention(store: Store, every_hours: float) -> None:
    """Every ``privacy.retention_hours``, delete the events their sources keep no longer
    (0: never; ``POST /v1/privacy/retention`` runs it at once)."""
    if every_hours <= 0:
        return
    while True:
        await asyncio.sleep(every_hours * 3600)
        try:
            done = await asyncio.to_thread(apply_retention, store)
            log.info("retention: deleted %d expired event(s)", done["events_deleted"])
        except Exception:  # keep the schedule; the next run tries again
            log.exception("applying retention failed")


async def _rerun_predictions(store: Store, settings: Settings) -> None:
    """Every ``predictions.schedule_hours``, refit the models and score everyone (0: never;
    ``kenning predict run`` runs them at once)."""
    hours = settings.predictions.schedule_hours
    if hours <= 0:
        return
    from kenning.predictions.analysis import run_and_reevaluate

    while True:
        await asyncio.sleep(hours * 3600)
        try:
            ran = await asyncio.to_thread(
                run_and_reevaluate, store, settings, models=None, as_of=None
            )
            log.info("predictions: scored %d customers", ran["customers"])
        except Exception:  # keep the schedule; the next run tries again
            log.exception("running the predictions failed")
