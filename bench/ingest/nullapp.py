"""Kenning's server with two extra routes that read the body and answer without storing.

The null endpoint lives in the same process, app, middleware and uvicorn configuration as the
real one, so the ratio between them is the cost of Kenning's own work (parse, validate, stitch,
commit), not of the HTTP stack.
"""

import argparse
import os
from pathlib import Path

import uvicorn
from fastapi import Request
from starlette.responses import Response

from kenning.cli.serve import open_server_store, tune_garbage_collection, uvicorn_config
from kenning.settings import Settings

_SUCCESS = b'{"success":true}'


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    settings = Settings.from_env(
        db_path=args.db, port=args.port, admin_token=os.environ["KENNING_ADMIN_TOKEN"]
    )
    store, _ = open_server_store(settings)
    config = uvicorn_config(settings, store)

    async def null(request: Request) -> Response:
        await request.body()
        return Response(_SUCCESS, media_type="application/json")

    app = config.app
    app.add_api_route("/v1/null/track", null, methods=["POST"])  # type: ignore[attr-defined]
    app.add_api_route("/v1/null/batch", null, methods=["POST"])  # type: ignore[attr-defined]
    # First in the route table, as the collection routes are: a request is matched against
    # the routes in turn, and at the end of a hundred of them it costs several times more.
    routes = app.router.routes  # type: ignore[attr-defined]
    routes[:0] = [routes.pop(), routes.pop()][::-1]
    server = uvicorn.Server(config)
    tune_garbage_collection()
    try:
        server.run()
    finally:
        store.close()


if __name__ == "__main__":
    main()
