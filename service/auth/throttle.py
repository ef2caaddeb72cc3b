"""The sign-in rate limit: after too many failures for one user name, or from one client
address, within the window, sign-in is refused (429) until the oldest failure ages out.

Failures are rows in the database, so every worker process sees the same count."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from moderation.storage.review_tables import LoginFailureRow
from moderation.storage.tables import utcnow


class LoginThrottle:
    def __init__(self, sessions: sessionmaker[Session], max_failures: int, window: timedelta) -> None:
        self.sessions = sessions
        self.max_failures = max_failures
        self.window = window

    def retry_after(self, username: str, client: str) -> int | None:
        """Seconds to wait before trying again, or None when a try is allowed now."""
        since = utcnow() - self.window
        with self.sessions() as session:
            waits = [self._wait(session, column, value, since) for column, value in (
                (LoginFailureRow.username, username[:64]), (LoginFailureRow.client, client[:64]))]
        blocked = [wait for wait in waits if wait is not None]
        return max(blocked) if blocked else None

    def _wait(self, session: Session, column, value: str, since: datetime) -> int | None:  # type: ignore[no-untyped-def]
        count, oldest = session.execute(
            select(func.count(), func.min(LoginFailureRow.at))
            .where(column == value, LoginFailureRow.at >= since)).one()
        if count < self.max_failures:
            return None
        oldest = oldest if oldest.tzinfo else oldest.replace(tzinfo=UTC)
        return max(1, int((oldest + self.window - utcnow()).total_seconds()) + 1)

    def record_failure(self, username: str, client: str) -> None:
        with self.sessions.begin() as session:
            session.execute(delete(LoginFailureRow).where(
                LoginFailureRow.at < utcnow() - self.window))
            session.add(LoginFailureRow(username=username[:64], client=client[:64], at=utcnow()))

    def clear(self, username: str) -> None:
        """A successful sign-in forgets that user name's failures (not the address's)."""
        with self.sessions.begin() as session:
            session.execute(delete(LoginFailureRow).where(LoginFailureRow.username == username[:64]))
