"""The review tool's parts, built once at start-up beside the scoring runtime."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from moderation.review.actions import ReviewActions
from moderation.review.cases import CaseReader
from moderation.review.labels import LabelReader
from moderation.review.queue import ReviewQueue
from moderation.settings import ReviewSettings
from service.auth.accounts import AccountStore, ApiKeyStore
from service.auth.sessions import SessionStore
from service.auth.throttle import LoginThrottle


@dataclass
class ReviewServices:
    settings: ReviewSettings
    accounts: AccountStore
    api_keys: ApiKeyStore
    sessions: SessionStore
    throttle: LoginThrottle
    queue: ReviewQueue
    cases: CaseReader
    actions: ReviewActions
    labels: LabelReader

    @classmethod
    def build(cls, settings: ReviewSettings, sessions: sessionmaker[Session]) -> ReviewServices:
        return cls(
            settings=settings,
            accounts=AccountStore(sessions),
            api_keys=ApiKeyStore(sessions),
            sessions=SessionStore(sessions, timedelta(hours=settings.session_hours)),
            throttle=LoginThrottle(sessions, settings.login_max_failures,
                                   timedelta(seconds=settings.login_window_s)),
            queue=ReviewQueue(sessions, settings.page_size),
            cases=CaseReader(sessions, settings.reject_reasons),
            actions=ReviewActions(sessions, settings.reject_reasons),
            labels=LabelReader(sessions),
        )
