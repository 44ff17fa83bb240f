"""``kenning serve`` with a null Profile API route beside the real one.

``GET /v1/null/profiles/{identifier}`` goes through what ``GET /v1/profiles/{identifier}``
goes through before the lookup (the same process, app, middleware, uvicorn configuration, a
synchronous route behind the same ``profiles:read`` token check) and answers at once with a
body of a profile's size. So the ratio between the two is the cost of the lookup itself:
finding the profile, reading its state, shaping the answer.
"""

import argparse
import os
from pathlib import Path

import orjson
import uvicorn
from fastapi import APIRouter, Depends, FastAPI
from starlette.responses import Response

from kenning.api.auth import require_scope
from kenning.api.hardening import HardeningLimits
from kenning.api.profiles import PROFILES_READ
from kenning.cli.serve import open_server_store, tune_garbage_collection, uvicorn_config
from kenning.settings import Settings

NULL_PATH = "/v1/null/profiles"
# About the size of a profile in the benchmark's store (traits, their sources, identities,
# consent): the null answer costs the same bytes on the wire.
_NULL_BODY = orjson.dumps({"profile_id": 0, "padding": "x" * 2_000})


def null_router() -> APIRouter:
    router = APIRouter(dependencies=[Depends(require_scope(PROFILES_READ))])

    @router.get(NULL_PATH + "/{identifier}")
    def null_profile(identifier: str) -> Response:
        return Response(_NULL_BODY, media_type="application/json")

    return router


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    settings = Settings.from_env(
        db_path=args.db,
        port=args.port,
        admin_token=os.environ["KENNING_ADMIN_TOKEN"],
        # One token asks for up to 1,000 lookups a second, as a personalisation system would:
        # the deployment raises its token's limit (``api.token_rate``, docs/security.md).
        hardening=HardeningLimits(token_rate=10_000, token_burst=10_000),
    )
    store, _ = open_server_store(settings)
    config = uvicorn_config(settings, store)
    app = config.app
    assert isinstance(app, FastAPI)
    app.include_router(null_router())
    server = uvicorn.Server(config)
    tune_garbage_collection()
    try:
        server.run()
    finally:
        store.close()


if __name__ == "__main__":
    main()
