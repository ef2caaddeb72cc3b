"""The admin page: staff accounts, API keys for POST /v1/score, and the recent audit log."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from moderation.errors import InputError
from moderation.review import audit
from moderation.review.schemas import Role
from service.auth.deps import PageSession, require_role
from service.deps import RuntimeDep
from service.pages.templating import render

router = APIRouter(prefix="/admin", include_in_schema=False)


@router.get("", response_class=HTMLResponse)
def admin_page(request: Request, runtime: RuntimeDep, session: PageSession,
               error: str | None = None) -> Response:
    require_role(session, Role.ADMIN)
    with runtime.sessions() as db:
        entries = audit.recent(db, limit=100)
    return render(request, "admin.html", session, users=runtime.review.accounts.list(),
                  keys=runtime.review.api_keys.list(), entries=entries, roles=list(Role),
                  error=error, new_key=None)


def _back(error: str | None = None) -> Response:
    url = "/admin" + (f"?{urlencode({'error': error})}" if error else "")
    return RedirectResponse(url, status_code=status.HTTP_303_SEE_OTHER)


@router.post("/users")
def create_user(runtime: RuntimeDep, session: PageSession,
                username: Annotated[str, Form(max_length=64)],
                password: Annotated[str, Form(max_length=1024)],
                role: Annotated[Role, Form()],
                display_name: Annotated[str, Form(max_length=128)] = "") -> Response:
    require_role(session, Role.ADMIN)
    try:
        runtime.review.accounts.create(session.user.actor, username, password, role, display_name)
    except InputError as exc:
        return _back(exc.message)
    return _back()


@router.post("/users/{user_id}")
def change_user(user_id: int, runtime: RuntimeDep, session: PageSession,
                role: Annotated[Role | None, Form()] = None,
                active: Annotated[str | None, Form()] = None,
                password: Annotated[str, Form(max_length=1024)] = "") -> Response:
    require_role(session, Role.ADMIN)
    try:
        runtime.review.accounts.update(
            session.user.actor, user_id, role=role,
            active=None if active is None else active == "true", password=password or None)
    except InputError as exc:
        return _back(exc.message)
    return _back()


@router.post("/keys", response_class=HTMLResponse)
def create_key(request: Request, runtime: RuntimeDep, session: PageSession,
               name: Annotated[str, Form(max_length=128)]) -> Response:
    require_role(session, Role.ADMIN)
    try:
        key, _ = runtime.review.api_keys.create(session.user.actor, name)
    except InputError as exc:
        return _back(exc.message)
    with runtime.sessions() as db:
        entries = audit.recent(db, limit=100)
    # The key is shown on this one answer only; nothing stores it in the clear.
    response = render(request, "admin.html", session, users=runtime.review.accounts.list(),
                      keys=runtime.review.api_keys.list(), entries=entries, roles=list(Role),
                      error=None, new_key=key, status_code=status.HTTP_201_CREATED)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/keys/{key_id}/revoke")
def revoke_key(key_id: int, runtime: RuntimeDep, session: PageSession) -> Response:
    require_role(session, Role.ADMIN)
    try:
        runtime.review.api_keys.revoke(session.user.actor, key_id)
    except InputError as exc:
        return _back(exc.message)
    return _back()
