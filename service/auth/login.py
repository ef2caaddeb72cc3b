"""Signing in and out, shared by the sign-in page and POST /v1/session."""

from __future__ import annotations

import logging

from fastapi import HTTPException, Response, status

from moderation.settings import ReviewSettings
from service.auth.deps import SESSION_COOKIE
from service.auth.sessions import SignedIn
from service.review_runtime import ReviewServices

log = logging.getLogger(__name__)


class TooManyAttempts(HTTPException):
    def __init__(self, retry_after: int) -> None:
        super().__init__(status.HTTP_429_TOO_MANY_REQUESTS,
                         f"too many failed sign-ins; try again in {retry_after} seconds",
                         headers={"Retry-After": str(retry_after)})


class BadCredentials(HTTPException):
    def __init__(self) -> None:
        super().__init__(status.HTTP_401_UNAUTHORIZED, "wrong user name or password",
                         headers={"WWW-Authenticate": "Cookie"})


def sign_in(review: ReviewServices, username: str, password: str,
            client: str) -> tuple[str, SignedIn]:
    """A new session token for good credentials; raises TooManyAttempts or BadCredentials."""
    name = username.strip().lower()[:64]
    wait = review.throttle.retry_after(name, client)
    if wait is not None:
        log.warning("sign-in refused by the rate limit")
        raise TooManyAttempts(wait)
    user = review.accounts.authenticate(name, password)
    if user is None:
        review.throttle.record_failure(name, client)
        log.info("failed sign-in")
        raise BadCredentials()
    review.throttle.clear(name)
    log.info("user %d signed in", user.id)
    return review.sessions.open(user)


def set_session_cookie(response: Response, token: str, settings: ReviewSettings) -> None:
    response.set_cookie(SESSION_COOKIE, token, max_age=int(settings.session_hours * 3600),
                        httponly=True, secure=settings.secure_cookies, samesite="lax", path="/")


def clear_session_cookie(response: Response, settings: ReviewSettings) -> None:
    response.delete_cookie(SESSION_COOKIE, httponly=True, secure=settings.secure_cookies,
                           samesite="lax", path="/")
