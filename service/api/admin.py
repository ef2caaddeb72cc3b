"""Admins manage staff accounts, the API keys for POST /v1/score, and the served models."""

from __future__ import annotations

import logging
from datetime import datetime

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, Field

from moderation.review.schemas import Role
from moderation.schemas import ModelRef, ProblemDetail
from service.auth.accounts import ApiKeyInfo, StaffUser
from service.auth.deps import ApiSession, require_role
from service.deps import RuntimeDep

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1", tags=["admin"])
_ERRORS = {code: {"model": ProblemDetail} for code in (401, 403, 404, 409, 422)}


class UserOut(BaseModel):
    id: int
    username: str
    display_name: str
    role: Role
    active: bool
    created_at: datetime
    last_login_at: datetime | None

    @classmethod
    def of(cls, user: StaffUser) -> UserOut:
        return cls(**user.__dict__)


class NewUser(BaseModel):
    username: str = Field(max_length=64)
    password: str = Field(max_length=1024)
    role: Role
    display_name: str = Field("", max_length=128)


class UserChange(BaseModel):
    role: Role | None = None
    active: bool | None = None
    password: str | None = Field(None, max_length=1024)


class KeyOut(BaseModel):
    id: int
    name: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None

    @classmethod
    def of(cls, key: ApiKeyInfo) -> KeyOut:
        return cls(**key.__dict__)


class NewKey(BaseModel):
    name: str = Field(max_length=128)


class CreatedKey(KeyOut):
    key: str = Field(description="shown this once; only its hash is stored")


@router.get("/users", response_model=list[UserOut], responses=_ERRORS, summary="Staff accounts")
def list_users(runtime: RuntimeDep, session: ApiSession) -> list[UserOut]:
    require_role(session, Role.ADMIN)
    return [UserOut.of(user) for user in runtime.review.accounts.list()]


@router.post("/users", response_model=UserOut, status_code=status.HTTP_201_CREATED,
             responses=_ERRORS, summary="Create a staff account")
def create_user(body: NewUser, runtime: RuntimeDep, session: ApiSession) -> UserOut:
    require_role(session, Role.ADMIN)
    return UserOut.of(runtime.review.accounts.create(
        session.user.actor, body.username, body.password, body.role, body.display_name))


@router.patch("/users/{user_id}", response_model=UserOut, responses=_ERRORS,
              summary="Change a role, (de)activate, or set a new password")
def change_user(user_id: int, body: UserChange, runtime: RuntimeDep,
                session: ApiSession) -> UserOut:
    require_role(session, Role.ADMIN)
    return UserOut.of(runtime.review.accounts.update(
        session.user.actor, user_id, role=body.role, active=body.active, password=body.password))


@router.get("/api-keys", response_model=list[KeyOut], responses=_ERRORS,
            summary="API keys for POST /v1/score (made here; API_KEYS from settings not listed)")
def list_keys(runtime: RuntimeDep, session: ApiSession) -> list[KeyOut]:
    require_role(session, Role.ADMIN)
    return [KeyOut.of(key) for key in runtime.review.api_keys.list()]


@router.post("/api-keys", response_model=CreatedKey, status_code=status.HTTP_201_CREATED,
             responses=_ERRORS, summary="Make an API key for POST /v1/score")
def create_key(body: NewKey, runtime: RuntimeDep, session: ApiSession) -> CreatedKey:
    require_role(session, Role.ADMIN)
    key, info = runtime.review.api_keys.create(session.user.actor, body.name)
    return CreatedKey(key=key, **info.__dict__)


@router.delete("/api-keys/{key_id}", response_model=KeyOut, responses=_ERRORS,
               summary="Revoke an API key")
def revoke_key(key_id: int, runtime: RuntimeDep, session: ApiSession) -> KeyOut:
    require_role(session, Role.ADMIN)
    return KeyOut.of(runtime.review.api_keys.revoke(session.user.actor, key_id))


class ReloadResult(BaseModel):
    previous: list[ModelRef] = Field(description="model versions served before the reload")
    models: list[ModelRef] = Field(description="model versions served from now on")


@router.post("/admin/reload", response_model=ReloadResult, responses=_ERRORS,
             summary="Load the promoted model versions without a restart",
             description="Builds a new pipeline with the promoted versions, then swaps it in: "
                         "requests in flight finish on the old one. If loading fails, the old "
                         "one keeps serving and the answer is 409.")
def reload_models(runtime: RuntimeDep, session: ApiSession) -> ReloadResult:
    require_role(session, Role.ADMIN)
    try:
        previous, models = runtime.reload()
    except Exception as exc:  # noqa: BLE001 - any load failure leaves the old models serving
        log.error("model reload failed (%s); the previous models keep serving",
                  type(exc).__name__)
        raise HTTPException(status.HTTP_409_CONFLICT,
                            f"the promoted models could not be loaded ({type(exc).__name__}: "
                            f"{exc}); the previous models keep serving") from None
    log.info("models reloaded by %s", session.user.username)
    return ReloadResult(previous=previous, models=models)
