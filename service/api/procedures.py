from __future__ import annotations

from fastapi import APIRouter

from moderation.taxonomy import Procedure
from service.deps import RuntimeDep

router = APIRouter(prefix="/v1", tags=["procedures"])


@router.get("/procedures", summary="The procedure codes a submission may name, with their fields")
def list_procedures(runtime: RuntimeDep) -> list[Procedure]:
    return runtime.pipeline.taxonomy.procedures
