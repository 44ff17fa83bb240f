"""Errors are part of the interface: every HTTP error is JSON ``{code, message, field}``."""

from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from kenning.errors import FieldError


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = headers
        self.extra = extra or {}


def json_response(
    body: object, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(orjson.dumps(body), status, headers, media_type="application/json")


def error_body(code: str, message: str, field: str | None) -> dict[str, Any]:
    return {"code": code, "message": message, "field": field}


def error_response(error: ApiError) -> Response:
    body = {**error_body(error.code, error.message, error.field), **error.extra}
    return json_response(body, error.status, error.headers)


_STATUS_CODES = {401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed"}


def install_error_handlers(app: FastAPI) -> None:
    async def api_error(_: Request, error: Exception) -> Response:
        assert isinstance(error, ApiError)
        return error_response(error)

    async def validation_error(_: Request, error: Exception) -> Response:
        assert isinstance(error, RequestValidationError)
        first = error.errors()[0]
        # FastAPI prefixes the location with where the value came from ("body", "query").
        loc = [str(part) for part in first.get("loc", ())][1:]
        return json_response(
            error_body(
                "invalid_request", str(first.get("msg", "invalid request")), ".".join(loc) or None
            ),
            400,
        )

    async def http_error(_: Request, error: Exception) -> Response:
        assert isinstance(error, StarletteHTTPException)
        code = _STATUS_CODES.get(error.status_code, "http_error")
        return json_response(error_body(code, str(error.detail), None), error.status_code)

    async def field_error(_: Request, error: Exception) -> Response:
        # Bad input that names its field, refused by domain code (a funnel, a spend file)
        # that routers pass through rather than translate one by one.
        assert isinstance(error, FieldError)
        return json_response(error_body("invalid_request", error.message, error.field), 400)

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(FieldError, field_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
