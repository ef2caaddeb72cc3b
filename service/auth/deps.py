"""Who is signed in, what their role allows, and CSRF: FastAPI dependencies for the staff
pages and the staff JSON API. An API key (X-API-Key) opens none of them."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, HTTPException, Request, status

from moderation.review.schemas import Role
from service.auth.sessions import SignedIn
from service.deps import RuntimeDep

SESSION_COOKIE = "mod_session"
LOGIN_CSRF_COOKIE = "mod_login_csrf"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


class SignInRequired(Exception):
    """A page asked for without a session: answered with a redirect to the sign-in page."""

    def __init__(self, next_path: str) -> None:
        self.next_path = next_path


def signed_in(request: Request, runtime: RuntimeDep) -> SignedIn | None:
    if not hasattr(request.state, "signed_in"):
        request.state.signed_in = runtime.review.sessions.resolve(
            request.cookies.get(SESSION_COOKIE))
    return request.state.signed_in


MaybeSignedIn = Annotated[SignedIn | None, Depends(signed_in)]


async def _check_csrf(request: Request, session: SignedIn) -> None:
    if request.method in _SAFE_METHODS:
        return
    candidate = request.headers.get(CSRF_HEADER)
    if candidate is None and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")):
        value = (await request.form()).get(CSRF_FIELD)
        candidate = value if isinstance(value, str) else None
    if not session.csrf_matches(candidate):
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            "the CSRF token is missing or wrong; reload the page and try again")


async def page_session(request: Request, session: MaybeSignedIn) -> SignedIn:
    if session is None:
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequired(quote(path, safe="/?=&"))
    await _check_csrf(request, session)
    return session


async def api_session(request: Request, session: MaybeSignedIn) -> SignedIn:
    if session is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED,
                            "sign in first: POST /v1/session, then send its cookie",
                            headers={"WWW-Authenticate": "Cookie"})
    await _check_csrf(request, session)
    return session


PageSession = Annotated[SignedIn, Depends(page_session)]
ApiSession = Annotated[SignedIn, Depends(api_session)]


def require_role(session: SignedIn, *roles: Role) -> None:
    if session.user.role not in roles:
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            f"this needs the role {' or '.join(r.value for r in roles)}")


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"
