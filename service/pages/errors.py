"""Errors on staff pages answer with a page (or a redirect to sign in), not JSON."""

from __future__ import annotations

from fastapi import FastAPI, HTTPException, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from moderation.errors import InputError
from service.auth.deps import SignInRequired
from service.pages.templating import render

PAGE_PREFIXES = ("/review", "/admin", "/login", "/logout")


def is_page(request: Request) -> bool:
    path = request.url.path
    return path == "/" or path.startswith(PAGE_PREFIXES)


def install_page_error_handlers(app: FastAPI) -> None:
    json_input_error = app.exception_handlers.get(InputError)
    json_validation_error = app.exception_handlers.get(RequestValidationError)
    json_http_error = app.exception_handlers.get(StarletteHTTPException, http_exception_handler)

    @app.exception_handler(SignInRequired)
    async def sign_in_required(_request: Request, exc: SignInRequired) -> Response:
        return RedirectResponse(f"/login?next={exc.next_path}", status_code=303)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if not is_page(request):
            return await json_http_error(request, exc)  # type: ignore[misc]
        return _page(request, exc.status_code, str(exc.detail))

    @app.exception_handler(InputError)
    async def input_error(request: Request, exc: InputError) -> Response:
        if not is_page(request) and json_input_error is not None:
            return await json_input_error(request, exc)  # type: ignore[misc]
        return _page(request, exc.status_code, exc.message)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        if not is_page(request) and json_validation_error is not None:
            return await json_validation_error(request, exc)  # type: ignore[misc]
        fields = sorted({".".join(str(p) for p in error["loc"][1:]) or "request"
                         for error in exc.errors()})
        return _page(request, 422, "the form is not valid: " + ", ".join(fields))


def _page(request: Request, status_code: int, message: str) -> Response:
    session = getattr(request.state, "signed_in", None)
    return render(request, "error.html", session, status_code=status_code,
                  status_code_value=status_code, message=message)


__all__ = ["HTTPException", "install_page_error_handlers"]
