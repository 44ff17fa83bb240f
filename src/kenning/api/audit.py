"""The audit trail of the HTTP API: every change a token makes, every refusal of a token, and
the reads a handler marks (PII, exports), recorded with the actor, the time and the status.

A pure ASGI middleware: it learns the actor from ``require_scope`` (``request.state``), the
route from the router, and the status from the response, after the handler ran. The route is
recorded as its template (``/v1/profiles/{identifier}/consent``), never the path, which may
hold an email; the target is what the handler names (a profile number, an audience).
"""

from typing import Any

from fastapi import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kenning.store.audit import AuditEntry
from kenning.store.store import Store
from kenning.store.tokens import Principal

_READS = frozenset({"GET", "HEAD", "OPTIONS"})


def audit_as(
    request: Request,
    action: str,
    target: str | int | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Record this request as ``action`` on ``target`` (a read is recorded only so)."""
    request.state.audit_action = action
    request.state.audit_target = None if target is None else str(target)
    request.state.audit_detail = detail


class AuditTrail:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status: int | None = None

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            _record(scope, status)


def _record(scope: Scope, status: int | None) -> None:
    state: dict[str, Any] = scope.get("state") or {}
    principal = state.get("principal")
    if not isinstance(principal, Principal):
        return  # collection (write keys) and requests no token got through
    action = state.get("audit_action")
    method = scope.get("method", "")
    if action is None:
        if method in _READS and status != 403:
            return
        route = scope.get("route")
        action = f"{method} {getattr(route, 'path', '?')}"
    if status == 403:
        action = f"denied: {action}"
    app = scope.get("app")
    store: Store | None = getattr(getattr(app, "state", None), "store", None)
    if store is None:
        return
    store.audit.record(
        AuditEntry(
            principal.id,
            principal.name,
            str(action),
            state.get("audit_target"),
            status,
            state.get("audit_detail"),
        )
    )
