"""Context words near a match raise its score: a window of characters, not lemmas.

Presidio's `LemmaContextAwareEnhancer` needs spaCy's tagger and lemmatizer (which this
detector leaves out for speed), deep-copies every result and scans the token list once per
word; on a 300-word note that alone took longer than the NER. This one reads the words in a
character window around each match and matches context words as word prefixes ("fax"
matches "faxed", "phone" matches "phone:").
"""

from __future__ import annotations

import re

from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.context_aware_enhancers import ContextAwareEnhancer
from presidio_analyzer.nlp_engine import NlpArtifacts

WORD = re.compile(r"[^\W_]+")


class WindowContextEnhancer(ContextAwareEnhancer):
    def __init__(self, before_chars: int = 40, after_chars: int = 12,
                 boost: float = 0.35, floor: float = 0.4) -> None:
        super().__init__(context_similarity_factor=boost,
                         min_score_with_context_similarity=floor,
                         context_prefix_count=0, context_suffix_count=0)
        self.before_chars, self.after_chars = before_chars, after_chars

    def enhance_using_context(self, text: str, raw_results: list[RecognizerResult],
                              nlp_artifacts: NlpArtifacts | None,
                              recognizers: list[EntityRecognizer],
                              context: list[str] | None = None) -> list[RecognizerResult]:
        by_id = {recognizer.id: recognizer for recognizer in recognizers}
        given = [word.lower() for word in context or []]
        for result in raw_results:
            metadata = result.recognition_metadata or {}
            recognizer = by_id.get(metadata.get(RecognizerResult.RECOGNIZER_IDENTIFIER_KEY))
            if recognizer is None or not recognizer.context or \
                    metadata.get(RecognizerResult.IS_SCORE_ENHANCED_BY_CONTEXT_KEY):
                continue
            window = (text[max(0, result.start - self.before_chars):result.start] + " "
                      + text[result.end:result.end + self.after_chars]).lower()
            words = WORD.findall(window) + given
            if any(word.startswith(cue.lower()) for cue in recognizer.context for word in words
                   if len(word) >= len(cue)):
                result.score = min(self.MAX_SCORE, max(result.score + self.context_similarity_factor,
                                                       self.min_score_with_context_similarity))
        return raw_results
