"""Content-addressed photo files under DATA_DIR/images: each distinct file is kept once."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

_EXTENSIONS = {"JPEG": ".jpg", "PNG": ".png"}


class ImageStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)

    def path_for(self, sha256: str, fmt: str) -> Path:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise ValueError("not a sha256 hex digest")
        return self.root / sha256[:2] / f"{sha256}{_EXTENSIONS[fmt]}"

    def put(self, data: bytes, fmt: str, sha256: str | None = None) -> str:
        """Store `data` (if not stored already) and return its sha256 (computed here unless
        the caller has it already)."""
        sha256 = sha256 or hashlib.sha256(data).hexdigest()
        path = self.path_for(sha256, fmt)
        if path.exists():
            return sha256
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write then rename, so a reader never sees half a file and two writers never clash.
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".incoming-")
        try:
            with os.fdopen(handle, "wb") as stream:
                stream.write(data)
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return sha256

    def get(self, sha256: str, fmt: str) -> bytes:
        return self.path_for(sha256, fmt).read_bytes()

    def exists(self, sha256: str, fmt: str) -> bool:
        return self.path_for(sha256, fmt).exists()
