"""Text that looks like PHI in a case note and is not: eponyms, products, volumes, sizes...

Configured as named term lists and named regular expressions (`[phi.options.allow_list]`,
`[phi.options.allow_patterns]`). A span is allowed when every word in it is covered by an
allowed term or pattern, apart from titles, roman numerals and a few function words: so
"Pitanguy" and "Dr. Pitanguy" are allowed, "Le Fort III" is allowed, and "June 3, 2024" is
not allowed by a pattern for a year alone.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

WORD = re.compile(r"[^\W_]+", re.UNICODE)
IGNORABLE = {
    "dr", "mr", "mrs", "ms", "prof", "doctor", "the", "a", "an", "of", "and", "de", "la", "le",
    "s", "i", "ii", "iii", "iv", "v", "vi", "vii", "viii", "ix", "x",
}


class AllowList:
    def __init__(self, terms: Mapping[str, Iterable[str]], patterns: Mapping[str, str]) -> None:
        words = sorted({t.strip() for group in terms.values() for t in group if t.strip()},
                       key=len, reverse=True)
        self.term_regex = (
            re.compile(r"(?<!\w)(?:" + "|".join(re.escape(w) for w in words) + r")(?!\w)",
                       re.IGNORECASE)
            if words else None
        )
        self.patterns = [re.compile(pattern) for pattern in patterns.values()]

    MARGIN = 60  # characters around a span in which an allowed term may start or end

    def covered(self, text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
        """Character ranges that allowed terms and patterns cover, near text[start:end]."""
        end = len(text) if end is None else end
        low, high = max(0, start - self.MARGIN), min(len(text), end + self.MARGIN)
        window = text[low:high]
        ranges = []
        if self.term_regex is not None:
            ranges += [(m.start() + low, m.end() + low) for m in self.term_regex.finditer(window)]
        for pattern in self.patterns:
            ranges += [(m.start() + low, m.end() + low) for m in pattern.finditer(window)
                       if m.end() > m.start()]
        return ranges

    def allows(self, text: str, start: int, end: int) -> bool:
        """True when every word of text[start:end] lies in a covered range or is ignorable."""
        overlapping = [(s, e) for s, e in self.covered(text, start, end) if s < end and e > start]
        if not overlapping:
            return False
        for word in WORD.finditer(text, start, end):
            if word.group().lower() in IGNORABLE:
                continue
            if not any(s <= word.start() and word.end() <= e for s, e in overlapping):
                return False
        return True
