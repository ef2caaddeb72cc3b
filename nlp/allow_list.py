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
        # Terms as lower-cased word sequences: looked up, not matched by one regex of
        # hundreds of alternatives (which cost more than the rest of the analysis).
        self.phrases = {tuple(w.lower() for w in WORD.findall(term))
                        for group in terms.values() for term in group if WORD.search(term)}
        self.longest = max((len(p) for p in self.phrases), default=0)
        self.patterns = [re.compile(pattern) for pattern in patterns.values()]

    MARGIN = 60  # characters around a span in which an allowed term may start or end

    def covered(self, text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
        """Character ranges that allowed terms and patterns cover, near text[start:end]."""
        end = len(text) if end is None else end
        low, high = max(0, start - self.MARGIN), min(len(text), end + self.MARGIN)
        words = list(WORD.finditer(text, low, high))
        lowered = [w.group().lower() for w in words]
        ranges = []
        for i in range(len(words)):
            for n in range(1, min(self.longest, len(words) - i) + 1):
                if tuple(lowered[i:i + n]) in self.phrases:
                    ranges.append((words[i].start(), words[i + n - 1].end()))
        for pattern in self.patterns:
            ranges += [m.span() for m in pattern.finditer(text, low, high) if m.end() > m.start()]
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
