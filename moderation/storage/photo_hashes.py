"""The database side of the photo index: fingerprints stored with every saved submission."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from moderation.duplicates import (
    Fingerprint,
    StoredPhoto,
    photo_fingerprint,
    stacked_codes,
    stored_codes,
)
from moderation.intake import PreparedSubmission
from moderation.storage.tables import PhotoHashRow


def hash_rows(prepared: PreparedSubmission, submission_id: str) -> list[PhotoHashRow]:
    """One row per photo that decoded (its fingerprint is reused from the check when there)."""
    rows = []
    for photo in prepared.photos:
        print_ = photo_fingerprint(photo)
        if print_ is None:
            continue
        rows.append(PhotoHashRow(
            submission_id=submission_id, photo_id=photo.id,
            case_id=prepared.submission.case_id, member_id=prepared.submission.member_id,
            image_sha256=photo.stored_sha256, codes=print_.codes_bytes(),
            thumb=print_.thumb_bytes()))
    return rows


class PhotoHashStore:
    """`moderation.duplicates.PhotoSource` over the `photo_hashes` table."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def codes_after(self, key: int, limit: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        with self.sessions() as session:
            rows = session.execute(
                select(PhotoHashRow.id, PhotoHashRow.codes).where(PhotoHashRow.id > key)
                .order_by(PhotoHashRow.id).limit(limit)).all()
        keys = np.fromiter((row.id for row in rows), np.int64, len(rows))
        return keys, *stacked_codes([stored_codes(row.codes) for row in rows])

    def photos(self, keys: Sequence[int]) -> list[StoredPhoto]:
        if not keys:
            return []
        with self.sessions() as session:
            rows = session.scalars(select(PhotoHashRow).where(PhotoHashRow.id.in_(list(keys))))
            return [StoredPhoto(key=row.id, case_id=row.case_id, submission_id=row.submission_id,
                                photo_id=row.photo_id, member_id=row.member_id,
                                fingerprint=Fingerprint.from_bytes(row.codes, row.thumb))
                    for row in rows]
