"""The public Presidio synthetic PII set (presidio-research synth_dataset_v2, MIT), mapped onto
the HIPAA Safe Harbor identifiers a case note can hold.

| its type | here |
|---|---|
| PERSON | names |
| STREET_ADDRESS, ZIP_CODE | geographic |
| GPE | geographic when below state level; a country or a US state is not PHI (reported apart) |
| DATE_TIME | dates when it has a day or a month; a year alone or a weekday is not PHI (apart) |
| AGE | ages_over_89 when over 89; a younger age is not PHI (apart) |
| PHONE_NUMBER | phone_fax; EMAIL_ADDRESS email; US_SSN ssn; US_DRIVER_LICENSE license |
| CREDIT_CARD, IBAN_CODE | account |
| IP_ADDRESS | ip_address; DOMAIN_NAME url |
| ORGANIZATION, TITLE, NRP | not PHI in a case note (reported apart) |
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path

FILE = Path("shared") / "benchmarks" / "phi" / "presidio_synth_dataset_v2.json"
DIRECT = {
    "PERSON": "names", "STREET_ADDRESS": "geographic", "ZIP_CODE": "geographic",
    "PHONE_NUMBER": "phone_fax", "EMAIL_ADDRESS": "email", "US_SSN": "ssn",
    "US_DRIVER_LICENSE": "license", "CREDIT_CARD": "account", "IBAN_CODE": "account",
    "IP_ADDRESS": "ip_address", "DOMAIN_NAME": "url",
}
NOT_PHI = {"ORGANIZATION", "TITLE", "NRP"}
DAY_OR_MONTH = re.compile(
    r"\b(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\b|\d{1,4}[/\-.]\d{1,2}", re.I)


def default_path() -> Path:
    """shared/benchmarks/phi beside the repository (../shared from a clone)."""
    for base in [Path.cwd(), *Path(__file__).resolve().parents]:
        if (base.parent / FILE).is_file():
            return base.parent / FILE
    raise FileNotFoundError(f"{FILE} not found beside the repository; pass its path")


def label_of(entity_type: str, value: str, places_above_state: set[str]) -> tuple[str, bool]:
    """(label, is_phi): a Safe Harbor identifier, or the source type when not PHI."""
    if entity_type in DIRECT:
        return DIRECT[entity_type], True
    if entity_type == "GPE":
        below_state = value.strip().lower() not in places_above_state
        return ("geographic", True) if below_state else ("GPE above state level", False)
    if entity_type == "DATE_TIME":
        return ("dates", True) if DAY_OR_MONTH.search(value) else ("DATE_TIME year/weekday", False)
    if entity_type == "AGE":
        digits = re.sub(r"\D", "", value)
        return ("ages_over_89", True) if digits and int(digits) > 89 else ("AGE under 90", False)
    return entity_type, False


def load(path: Path | None = None, places_above_state: Iterable[str] = ()) -> list[dict]:
    """Records: text, gold [(start, end, label)], ignored [(start, end, label)]."""
    places = {p.strip().lower() for p in places_above_state}
    raw = json.loads((path or default_path()).read_text(encoding="utf-8"))
    records = []
    for index, item in enumerate(raw):
        gold, ignored = [], []
        for span in item["spans"]:
            if span["entity_value"] in ("nan", ""):
                continue
            label, is_phi = label_of(span["entity_type"], span["entity_value"], places)
            mark = (span["start_position"], span["end_position"], label)
            (gold if is_phi else ignored).append(mark)
        records.append({"id": f"synth-{index:04d}", "text": item["full_text"], "gold": gold,
                        "ignored": ignored})
    return records
