"""Font files for drawing synthetic text, all from matplotlib's wheel (nothing downloaded).

DejaVu (Bitstream Vera license + public-domain changes), STIX (SIL Open Font License 1.1) and
the Computer Modern (BaKoMa) fonts matplotlib ships; their license texts lie beside the files
(`matplotlib/mpl-data/fonts/ttf/LICENSE_DEJAVU`, `LICENSE_STIX`).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from PIL import ImageFont

FONT_FILES: dict[str, str] = {
    "DejaVuSans.ttf": "Bitstream Vera / DejaVu license",
    "DejaVuSans-Bold.ttf": "Bitstream Vera / DejaVu license",
    "DejaVuSans-Oblique.ttf": "Bitstream Vera / DejaVu license",
    "DejaVuSerif.ttf": "Bitstream Vera / DejaVu license",
    "DejaVuSerif-Bold.ttf": "Bitstream Vera / DejaVu license",
    "DejaVuSerif-Italic.ttf": "Bitstream Vera / DejaVu license",
    "DejaVuSansMono.ttf": "Bitstream Vera / DejaVu license",
    "DejaVuSansMono-Bold.ttf": "Bitstream Vera / DejaVu license",
    "STIXGeneral.ttf": "SIL Open Font License 1.1",
    "STIXGeneralBol.ttf": "SIL Open Font License 1.1",
    "STIXGeneralItalic.ttf": "SIL Open Font License 1.1",
    "cmr10.ttf": "BaKoMa fonts license (free redistribution)",
    "cmss10.ttf": "BaKoMa fonts license (free redistribution)",
}
MONOSPACE = ("DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf")


def font_dir() -> Path:
    import matplotlib
    return Path(matplotlib.__file__).parent / "mpl-data" / "fonts" / "ttf"


@lru_cache(maxsize=512)
def font(filename: str, size: int) -> ImageFont.FreeTypeFont:
    if filename not in FONT_FILES:
        raise KeyError(f"{filename} is not one of the fonts this project uses")
    return ImageFont.truetype(str(font_dir() / filename), size)
