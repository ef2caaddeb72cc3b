from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from moderation.storage.db import ping
from service.deps import RuntimeDep

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is up")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="The service can score: database reachable, checks loaded")
def readyz(runtime: RuntimeDep) -> JSONResponse:
    try:
        ping(runtime.engine)
    except SQLAlchemyError:
        return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)
    return JSONResponse({"status": "ready", "database": runtime.engine.dialect.name,
                         "checks": [check.name for check in runtime.pipeline.checks]})
