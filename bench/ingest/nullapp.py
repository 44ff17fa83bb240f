"""Kenning's server with extra routes that read the body and answer without storing.

The null endpoint lives in the same process, app, middleware and uvicorn configuration as the
real one, so the ratio between them is the cost of Kenning's own work (parse, validate, stitch,
commit), not of the HTTP stack. A third route also parses the body (orjson), the least any
endpoint that reads the messages must do: a second reference for batches.
"""

import argparse
import os
from pathlib import Path

import orjson
import uvicorn
from fastapi import Request
from starlette.responses import Response

from kenning.api import hardening
from kenning.api.collect import FRONT_ROUTES, Endpoint
from kenning.cli.serve import open_server_store, tune_garbage_collection, uvicorn_config
from kenning.settings import Settings

_SUCCESS = b'{"success":true}'


async def _null(request: Request) -> Response:
    await request.body()
    return Response(_SUCCESS, media_type="application/json")


async def _parsed(request: Request) -> Response:
    orjson.loads(await request.body())
    return Response(_SUCCESS, media_type="application/json")


_NULL_ROUTES: dict[str, Endpoint] = {
    "/v1/null/track": _null,
    "/v1/null/batch": _null,
    "/v1/parsed/batch": _parsed,
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    settings = Settings.from_env(
        db_path=args.db, port=args.port, admin_token=os.environ["KENNING_ADMIN_TOKEN"]
    )
    # Served as the collection routes are: by their front (api/collect.py CollectionFront),
    # not FastAPI's routing, and with their bodies left to the endpoint by the hardening
    # middleware, which otherwise parses and walks a JSON body (work the collection routes
    # do not have).
    FRONT_ROUTES.update(_NULL_ROUTES)
    hardening.COLLECTION_PATHS = hardening.COLLECTION_PATHS | set(_NULL_ROUTES)
    store, _ = open_server_store(settings)
    config = uvicorn_config(settings, store)
    server = uvicorn.Server(config)
    tune_garbage_collection()
    try:
        server.run()
    finally:
        store.close()


if __name__ == "__main__":
    main()
