"""Sign-in and sign-out pages."""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from service.auth.deps import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    MaybeSignedIn,
    PageSession,
    client_address,
)
from service.auth.login import clear_session_cookie, set_session_cookie, sign_in
from service.deps import RuntimeDep
from service.pages.templating import render

router = APIRouter(include_in_schema=False)


def safe_next(target: str | None) -> str:
    """Only a path on this site: never another host (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/review/queue"
    return target


@router.get("/")
def home() -> RedirectResponse:
    return RedirectResponse("/review/queue", status_code=status.HTTP_303_SEE_OTHER)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, runtime: RuntimeDep, session: MaybeSignedIn,
               next: str | None = None) -> Response:
    if session is not None:
        return RedirectResponse(safe_next(next), status_code=status.HTTP_303_SEE_OTHER)
    return _login_form(request, runtime, next)


def _login_form(request: Request, runtime: RuntimeDep, next_path: str | None,
                error: str | None = None, status_code: int = 200) -> Response:
    # The sign-in form has no session yet: its CSRF token is a double-submit cookie.
    token = secrets.token_urlsafe(32)
    response = render(request, "login.html", None, status_code=status_code,
                      login_csrf=token, next=safe_next(next_path), error=error)
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict",
                        secure=runtime.review.settings.secure_cookies, path="/login")
    return response


@router.post("/login")
def login(request: Request, runtime: RuntimeDep,
          username: Annotated[str, Form(max_length=256)] = "",
          password: Annotated[str, Form(max_length=1024)] = "",
          csrf_token: Annotated[str, Form(max_length=128)] = "",
          next: Annotated[str, Form(max_length=2048)] = "/review/queue") -> Response:
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not cookie or not hmac.compare_digest(cookie.encode(), csrf_token.encode()):
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            "the sign-in form's CSRF token is missing or wrong; reload the page")
    try:
        token, _ = sign_in(runtime.review, username, password, client_address(request))
    except HTTPException as exc:
        response = _login_form(request, runtime, next, error=exc.detail,
                               status_code=exc.status_code)
        for name, value in (exc.headers or {}).items():
            if name == "Retry-After":
                response.headers[name] = value
        return response
    response = RedirectResponse(safe_next(next), status_code=status.HTTP_303_SEE_OTHER)
    set_session_cookie(response, token, runtime.review.settings)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout(request: Request, runtime: RuntimeDep, _session: PageSession) -> Response:
    runtime.review.sessions.close(request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse("/login", status_code=status.HTTP_303_SEE_OTHER)
    clear_session_cookie(response, runtime.review.settings)
    return response
