"""The clinical PHI test set (datasets/phi_notes) and the span scoring of the benchmark."""

from __future__ import annotations

import json

from datasets import phi_notes
from datasets.phi_notes import generate, vocabulary
from nlp.entities import PHI_ENTITIES, SAFE_HARBOR
from nlp.evaluation import Example, Mark, score


def test_the_versioned_file_is_what_its_generator_makes() -> None:
    info = phi_notes.manifest()
    records = generate.generate(info["seed"])
    lines = [json.dumps(r, ensure_ascii=False, sort_keys=True) for r in records]
    on_disk = (phi_notes.DEFAULT_VERSION_DIR / info["file"]).read_text(encoding="utf-8")
    assert on_disk.splitlines() == lines
    assert phi_notes.load() == records  # sha256 checked against the manifest


def test_the_test_split_covers_every_identifier_and_every_look_alike() -> None:
    test = phi_notes.load("test")
    descriptions = [r for r in test if r["context"] == "description"]
    assert len([r for r in phi_notes.load() if r["context"] == "description"]) >= 150
    assert len(descriptions) >= 100
    found = {s["entity_type"] for r in test for s in r["spans"] if s["category"] == "patient"}
    expected = set(PHI_ENTITIES)
    assert found == expected
    negatives = {n for r in test for n in r["negatives"]}
    assert negatives >= {"eponym", "product", "volume", "cup_size", "duration", "age_under_90",
                         "year", "clinician", "place_above_state", "author"}
    assert {r["context"] for r in test} - {"description"}, "fields are in the test split too"
    for record in test:
        for span in record["spans"]:
            assert record["text"][span["start"]:span["end"]].strip() == \
                record["text"][span["start"]:span["end"]]


def test_the_test_split_names_people_and_places_nobody_tuned_on() -> None:
    for pool in (vocabulary.FIRST_NAMES, vocabulary.SURNAMES, vocabulary.STREETS, vocabulary.CITIES):
        assert not set(pool["heldout"]) & (set(pool["train"]) | set(pool["dev"]))
    def phrasings(key: str) -> set[str]:
        return set(generate.OPENERS[key]) | {t for t, _ in generate.TIMELINE[key]}
    assert not phrasings("C") & (phrasings("A") | phrasings("B"))
    for sets in generate.PHI_SENTENCES.values():
        assert not set(sets[2]) & (set(sets[0]) | set(sets[1]))


def test_span_scoring_matches_by_safe_harbor_identifier() -> None:
    gold = [Mark(0, 5, "names"), Mark(10, 20, "dates")]
    predicted = [Mark(0, 3, "names"), Mark(12, 15, "geographic"), Mark(30, 34, "names"),
                 Mark(40, 44, "dates")]
    report = score([Example(gold=gold, predicted=predicted, ignored=[Mark(40, 50, "year")]),
                    Example(gold=[], predicted=[])])
    assert (report.typed.support, report.typed.found) == (2, 1)
    assert (report.typed.predicted, report.typed.correct) == (3, 1)  # the one on "year" is neither
    assert (report.untyped.found, report.untyped.correct) == (2, 2)
    assert report.by_label["dates"].recall == 0.0 and report.by_label["names"].precision == 0.5
    assert report.ignored_flagged == {"year": (1, 1)}
    assert (report.clean_examples, report.clean_flagged) == (1, 0)
    assert abs(report.typed.f_beta() - 5 * (1 / 3) * 0.5 / (4 / 3 + 0.5)) < 1e-9
    assert set(SAFE_HARBOR) == set(PHI_ENTITIES)
