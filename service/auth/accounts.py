"""Staff accounts and the API keys admins make for POST /v1/score."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from moderation.errors import CaseConflict, InvalidSubmission
from moderation.review import audit
from moderation.review.actions import NotFound
from moderation.review.audit import Actor
from moderation.review.schemas import Role
from moderation.storage.review_tables import ApiKeyRow, StaffSessionRow, UserRow
from moderation.storage.tables import utcnow
from service.auth.passwords import hash_password, needs_rehash, password_problem, verify_password

USERNAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
API_KEY_PREFIX = "mk_"


@dataclass(frozen=True)
class StaffUser:
    id: int
    username: str
    display_name: str
    role: Role
    active: bool
    created_at: datetime
    last_login_at: datetime | None

    @property
    def actor(self) -> Actor:
        return Actor(id=self.id, name=self.username, role=self.role)


@dataclass(frozen=True)
class ApiKeyInfo:
    id: int
    name: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None


class UsernameTaken(CaseConflict):
    pass


def normalise_username(username: str) -> str:
    return username.strip().lower()


class AccountStore:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def create(self, actor: Actor, username: str, password: str, role: Role,
               display_name: str = "") -> StaffUser:
        username = normalise_username(username)
        if not USERNAME_PATTERN.match(username):
            raise InvalidSubmission("the user name must be 2-64 characters: lower-case letters, "
                                    "digits, '.', '_' or '-', starting with a letter or digit")
        problem = password_problem(password)
        if problem:
            raise InvalidSubmission(problem)
        try:
            with self.sessions.begin() as session:
                row = UserRow(username=username, display_name=display_name.strip() or username,
                              role=role.value, password_hash=hash_password(password), active=True,
                              created_at=utcnow())
                session.add(row)
                session.flush()
                audit.append(session, actor, "user.create", f"user {username}",
                             new={"role": role.value})
                return _user(row)
        except IntegrityError:
            raise UsernameTaken(f"the user name '{username}' is taken") from None

    def authenticate(self, username: str, password: str) -> StaffUser | None:
        """The active user with this name and password, or None (the same time either way)."""
        with self.sessions.begin() as session:
            row = session.scalar(select(UserRow).where(
                UserRow.username == normalise_username(username)))
            valid = verify_password(row.password_hash if row else None, password)
            if row is None or not valid or not row.active:
                return None
            if needs_rehash(row.password_hash):
                row.password_hash = hash_password(password)
            row.last_login_at = utcnow()
            return _user(row)

    def get(self, user_id: int) -> StaffUser | None:
        with self.sessions() as session:
            row = session.get(UserRow, user_id)
            return _user(row) if row else None

    def list(self) -> list[StaffUser]:
        with self.sessions() as session:
            return [_user(row) for row in session.scalars(select(UserRow).order_by(UserRow.username))]

    def count_admins(self) -> int:
        with self.sessions() as session:
            return session.scalar(select(func.count()).select_from(UserRow).where(
                UserRow.role == Role.ADMIN.value, UserRow.active.is_(True))) or 0

    def update(self, actor: Actor, user_id: int, *, role: Role | None = None,
               active: bool | None = None, password: str | None = None) -> StaffUser:
        if password is not None and (problem := password_problem(password)):
            raise InvalidSubmission(problem)
        with self.sessions.begin() as session:
            row = session.get(UserRow, user_id, with_for_update=True)
            if row is None:
                raise NotFound("no user with that id")
            previous = {"role": row.role, "active": row.active}
            if role is not None:
                row.role = role.value
            if active is not None:
                row.active = active
            if row.id == actor.id and (row.role != Role.ADMIN.value or not row.active):
                raise InvalidSubmission("you cannot remove your own admin role or deactivate "
                                        "yourself; ask another admin")
            new = {"role": row.role, "active": row.active}
            if new != previous:
                audit.append(session, actor, "user.update", f"user {row.username}",
                             previous=previous, new=new)
            if password is not None:
                row.password_hash = hash_password(password)
                audit.append(session, actor, "user.password", f"user {row.username}")
            if not row.active or password is not None:
                # Signed-in sessions end: a deactivated user or an old password opens nothing.
                session.execute(delete(StaffSessionRow).where(StaffSessionRow.user_id == row.id))
            return _user(row)


class ApiKeyStore:
    """Keys for POST /v1/score made in the admin page. Only the sha256 is stored."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def create(self, actor: Actor, name: str) -> tuple[str, ApiKeyInfo]:
        name = name.strip()
        if not 1 <= len(name) <= 128:
            raise InvalidSubmission("name the key (1-128 characters), e.g. the system that uses it")
        key = API_KEY_PREFIX + secrets.token_urlsafe(32)
        with self.sessions.begin() as session:
            row = ApiKeyRow(name=name, prefix=key[:10], key_sha256=_sha256(key),
                            created_by=actor.id, created_at=utcnow())
            session.add(row)
            session.flush()
            audit.append(session, actor, "apikey.create", f"API key {row.id} ({row.prefix}…)",
                         new={"name": name})
            return key, _key(row)

    def list(self) -> list[ApiKeyInfo]:
        with self.sessions() as session:
            return [_key(row) for row in session.scalars(select(ApiKeyRow).order_by(ApiKeyRow.id))]

    def revoke(self, actor: Actor, key_id: int) -> ApiKeyInfo:
        with self.sessions.begin() as session:
            row = session.get(ApiKeyRow, key_id, with_for_update=True)
            if row is None:
                raise NotFound("no API key with that id")
            if row.revoked_at is None:
                row.revoked_at = utcnow()
                audit.append(session, actor, "apikey.revoke", f"API key {row.id} ({row.prefix}…)",
                             previous={"revoked": False}, new={"revoked": True})
            return _key(row)

    def is_valid(self, key: str) -> bool:
        if not key.startswith(API_KEY_PREFIX):
            return False
        with self.sessions() as session:
            return session.scalar(select(ApiKeyRow.id).where(
                ApiKeyRow.key_sha256 == _sha256(key), ApiKeyRow.revoked_at.is_(None))) is not None


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _user(row: UserRow) -> StaffUser:
    return StaffUser(id=row.id, username=row.username, display_name=row.display_name,
                     role=Role(row.role), active=row.active, created_at=row.created_at,
                     last_login_at=row.last_login_at)


def _key(row: ApiKeyRow) -> ApiKeyInfo:
    return ApiKeyInfo(id=row.id, name=row.name, prefix=row.prefix, created_at=row.created_at,
                      revoked_at=row.revoked_at)
