"""Server-side sign-in sessions with a per-session CSRF token.

The cookie carries a random token; the table keeps its sha256, the user, the CSRF token and
the expiry. Signing out or deactivating a user deletes the row, so the cookie stops working.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from moderation.storage.review_tables import StaffSessionRow, UserRow
from moderation.storage.tables import utcnow
from service.auth.accounts import StaffUser, _user


@dataclass(frozen=True)
class SignedIn:
    user: StaffUser
    csrf_token: str

    def csrf_matches(self, candidate: str | None) -> bool:
        return bool(candidate) and hmac.compare_digest(candidate.encode(), self.csrf_token.encode())


class SessionStore:
    def __init__(self, sessions: sessionmaker[Session], lifetime: timedelta) -> None:
        self.sessions = sessions
        self.lifetime = lifetime

    def open(self, user: StaffUser) -> tuple[str, SignedIn]:
        token = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        now = utcnow()
        with self.sessions.begin() as session:
            session.execute(delete(StaffSessionRow).where(StaffSessionRow.expires_at < now))
            session.add(StaffSessionRow(token_sha256=_sha256(token), user_id=user.id,
                                        csrf_token=csrf, created_at=now,
                                        expires_at=now + self.lifetime))
        return token, SignedIn(user=user, csrf_token=csrf)

    def resolve(self, token: str | None) -> SignedIn | None:
        if not token or len(token) > 128:
            return None
        with self.sessions() as session:
            found = session.execute(
                select(StaffSessionRow, UserRow).join(UserRow, UserRow.id == StaffSessionRow.user_id)
                .where(StaffSessionRow.token_sha256 == _sha256(token))).first()
            if found is None:
                return None
            row, user = found
            if _as_utc(row.expires_at) <= utcnow() or not user.active:
                return None
            return SignedIn(user=_user(user), csrf_token=row.csrf_token)

    def close(self, token: str | None) -> None:
        if token:
            with self.sessions.begin() as session:
                session.execute(delete(StaffSessionRow)
                                .where(StaffSessionRow.token_sha256 == _sha256(token)))


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _as_utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
