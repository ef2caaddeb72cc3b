"""The application factory: `uvicorn service.app:create_app --factory`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from moderation.settings import Settings, get_settings
from service.api import admin, health, procedures, review, submissions
from service.errors import install_error_handlers
from service.logging import configure_logging
from service.pages import admin as admin_pages
from service.pages import auth as auth_pages
from service.pages import review as review_pages
from service.pages.errors import install_page_error_handlers
from service.pages.security import SecurityHeaders
from service.pages.templating import STATIC_DIR
from service.runtime import Runtime


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_level)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.runtime = Runtime.start(settings)
        try:
            yield
        finally:
            app.state.runtime.close()

    app = FastAPI(
        title="Before/after photo moderation",
        version="0.1.0",
        summary="Scores surgeons' before/after case submissions against the society's rules.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    install_page_error_handlers(app)
    app.add_middleware(SecurityHeaders)
    app.include_router(health.router)
    app.include_router(procedures.router)
    app.include_router(submissions.router)
    app.include_router(review.router)
    app.include_router(admin.router)
    app.include_router(auth_pages.router)
    app.include_router(review_pages.router)
    app.include_router(admin_pages.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app
