"""Error responses: a clear message naming the problem, never echoing submitted content."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError

from moderation.errors import InputError
from service.scoring import ServiceBusy

log = logging.getLogger(__name__)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(InputError)
    async def input_error(_request: Request, exc: InputError) -> JSONResponse:
        body: dict[str, object] = {"detail": exc.message}
        if exc.errors:
            body["errors"] = exc.errors
        return JSONResponse(body, status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"loc": [str(p) for p in e["loc"]], "msg": e["msg"], "type": e["type"]}
                  for e in exc.errors()]
        return JSONResponse({"detail": "the request is not valid", "errors": errors},
                            status_code=422)

    @app.exception_handler(ServiceBusy)
    async def busy(_request: Request, exc: ServiceBusy) -> JSONResponse:
        return JSONResponse({"detail": "the scoring queue is full; retry shortly"},
                            status_code=503, headers={"Retry-After": str(exc.retry_after_s)})

    @app.exception_handler(OperationalError)
    async def database_unavailable(_request: Request, exc: OperationalError) -> JSONResponse:
        log.error("database unavailable: %s", type(exc.orig).__name__)
        return JSONResponse({"detail": "the database is unavailable; try again shortly"},
                            status_code=503, headers={"Retry-After": "5"})

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        # The message is left out: it may quote submitted text.
        log.error("unhandled %s on %s %s", type(exc).__name__, request.method, request.url.path)
        return JSONResponse({"detail": "internal error"}, status_code=500)
