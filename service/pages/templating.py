"""The Jinja2 environment of the staff pages. Autoescaping is on for every template: every
user-supplied string (notes, fields, reasons, user names) renders as text."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader
from starlette.responses import HTMLResponse

from service.auth.deps import CSRF_FIELD
from service.auth.sessions import SignedIn

TEMPLATE_DIR = Path(__file__).parents[1] / "templates"
STATIC_DIR = Path(__file__).parents[1] / "static"

templates = Jinja2Templates(env=Environment(loader=FileSystemLoader(TEMPLATE_DIR), autoescape=True))


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else ""


def _percent(score: float | None) -> str:
    return "" if score is None else f"{score * 100:.0f}%"


def _plain(value: Any) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


templates.env.filters["when"] = _when
templates.env.filters["plain"] = _plain
templates.env.filters["percent"] = _percent


def render(request: Request, name: str, session: SignedIn | None, status_code: int = 200,
           **context: Any) -> HTMLResponse:
    context.update(session=session, user=session.user if session else None,
                   csrf_field=CSRF_FIELD, csrf_token=session.csrf_token if session else "")
    return templates.TemplateResponse(request, name, context, status_code=status_code)
