"""Recognizers for the clinical identifiers Presidio lacks, in Presidio's own terms.

Each is a small `LocalRecognizer`. Most identifiers in case notes come as "label: value"
(MRN 00482913, DOB 03/14/1958, serial no. SN-7781-A): a `LabelledValueRecognizer` finds the
label and reports only the value. Free-standing shapes (dates, ages over 89, street addresses,
patient initials, long digit runs) are `ShapeRecognizer` patterns.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from presidio_analyzer import AnalysisExplanation, LocalRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

I = re.IGNORECASE

# One value after a label: letters, digits and inner separators, holding at least one digit.
# (Every repetition here is bounded: a 20,000-character note of "1-1-1-..." must stay cheap.)
# Upper-case even where the label is matched case-insensitively ("patient is 93" is no ID).
ID_VALUE = (r"(?-i:(?=[A-Z0-9\-./ ]{0,25}\d)[A-Z0-9]"
            r"(?:[A-Z0-9]|[\-./](?=[A-Z0-9])|(?<=\d)\s(?=\d)){3,24})")
# Between a label and its value: "MRN: ", "number is ", "no. ", "#", "ID -".
LABEL_GAP = r"(?:\s*(?:number|num|no|nr|id|ID|#|code)\b\.?)?\s*(?:[:#=\-]\s*)?(?:(?:is|was|of)\s+)?"

_MONTH_NAMES = (r"Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|"
                r"Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?")
# Capitalised or in capitals ("NOV 27 2026" on a camera stamp, "DOB 12 MAR 1975" on a band).
MONTHS = rf"(?:{_MONTH_NAMES}|{_MONTH_NAMES.upper()})"
# In capitals, as records and cameras print them, run together or not: 03JUL1941, 27 NOV '26.
# OCR reads a capital O as a zero ("0CT", "N0V").
MONTHS_CAPS_OCR = r"(?:JAN|FEB|MAR|APR|MAY|JUNE?|JULY?|AUG|SEPT?|[O0]CT|N[O0]V|DEC)"
DAY = r"(?:0?[1-9]|[12]\d|3[01])(?:st|nd|rd|th)?"
YEAR = r"(?:1[89]\d\d|20\d\d)"
STREET_SUFFIX = (r"(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|"
                 r"Way|Place|Pl|Terrace|Ter|Circle|Cir|Parkway|Pkwy|Highway|Hwy|Trail|Trl|"
                 r"Square|Sq|Loop|Alley|Crescent|Close|Row|Pike|Plaza|Run|Path|Heights)")
US_STATES = (r"(?:AL|AK|AZ|AR|CA|CO|CT|DE|DC|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|"
             r"MO|MT|NE|NV|NH|NJ|NM|NY|NC|ND|OH|OK|OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY)")
CAPITALISED = r"[A-Z][a-z'’\-]+"
# One word of a name, capitalised or in capitals: Okafor, McKay, O'Connell, DOE, O'CONNELL.
# Separators only between letters, so that a long run of them cannot backtrack.
NAME_WORD = (r"(?:(?:Mc|Mac|[OD]['’])?[A-Z][a-z]+(?:['’\-][A-Z]?[a-z]+)*"
             r"|(?:[OD]['’])?[A-Z]{2,}(?:['’\-][A-Z]+)*)")
OVER_89 = r"(?:9\d|1[01]\d)"


@dataclass(frozen=True)
class Shape:
    name: str
    regex: str
    score: float
    flags: int = 0
    validate: Callable[[str], bool] | None = None


class ShapeRecognizer(LocalRecognizer):
    """Regular expressions; the span is the `value` group when the pattern has one."""

    def __init__(self, entity: str, shapes: Iterable[Shape], name: str,
                 context: list[str] | None = None) -> None:
        self.shapes = [(shape, re.compile(shape.regex, shape.flags)) for shape in shapes]
        super().__init__(supported_entities=[entity], supported_language="en", name=name,
                         context=context or [])

    def load(self) -> None:
        pass

    def analyze(self, text: str, entities: list[str],
                nlp_artifacts: NlpArtifacts | None = None) -> list[RecognizerResult]:
        results = []
        entity = self.supported_entities[0]
        for shape, regex in self.shapes:
            for match in regex.finditer(text):
                group = "value" if "value" in regex.groupindex else 0
                start, end = match.span(group)
                value = text[start:end].rstrip(" .,;:-")
                end = start + len(value)
                if not value or (shape.validate and not shape.validate(value)):
                    continue
                results.append(RecognizerResult(
                    entity_type=entity, start=start, end=end, score=shape.score,
                    analysis_explanation=AnalysisExplanation(
                        recognizer=self.name, original_score=shape.score,
                        pattern_name=shape.name, textual_explanation=shape.name),
                    recognition_metadata={
                        RecognizerResult.RECOGNIZER_NAME_KEY: self.name,
                        RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
                    },
                ))
        return results


def labelled(name: str, labels: Iterable[str], value: str = ID_VALUE, score: float = 0.9) -> Shape:
    """A value right after one of `labels` (case-insensitive labels, word-bounded)."""
    alternatives = "|".join(sorted(labels, key=len, reverse=True))
    return Shape(name, rf"(?<![A-Za-z])(?:{alternatives})(?![a-z]){LABEL_GAP}(?P<value>{value})",
                 score, I)


def _has_letters_and_digits(value: str) -> bool:
    return any(c.isdigit() for c in value) and any(c.isalpha() for c in value)


PHONE_SHAPE = re.compile(r"^\d{3}-\d{3}-\d{4}$")


def _is_long_number(value: str) -> bool:
    return sum(c.isdigit() for c in value) >= 6 and not PHONE_SHAPE.match(value)


# ------------------------------------------------------------------ the recognizers

def medical_record_numbers() -> ShapeRecognizer:
    return ShapeRecognizer("MEDICAL_RECORD_NUMBER", [
        labelled("mrn", ["MRN", "MR", "medical record", "med rec", "medical records",
                         "hospital record", "hospital", "chart", "record", "patient",
                         "patient record", "EMR", "EHR", "case file"]),
    ], name="MedicalRecordNumberRecognizer")


def health_plan_numbers() -> ShapeRecognizer:
    return ShapeRecognizer("HEALTH_PLAN_NUMBER", [
        labelled("health_plan", ["health plan", "insurance", "insurer", "insurance member",
                                 "member", "membership", "policy", "policy holder", "subscriber",
                                 "beneficiary", "Medicare", "Medicaid", "plan", "group",
                                 "coverage", "BCBS", "Blue Cross", "Aetna", "Cigna",
                                 "UnitedHealthcare", "Humana", "Kaiser", "Anthem"]),
    ], name="HealthPlanNumberRecognizer")


def account_numbers() -> ShapeRecognizer:
    return ShapeRecognizer("ACCOUNT_NUMBER", [
        labelled("account", ["account", "acct", "acc", "billing account", "billing",
                             "bank account", "patient account", "financing account",
                             "payment plan", "CareCredit", "card", "credit card", "debit card",
                             "card ending", "IBAN"]),
    ], name="AccountNumberRecognizer")


def license_numbers() -> ShapeRecognizer:
    return ShapeRecognizer("LICENSE_NUMBER", [
        labelled("license", ["driver's license", "drivers license", "driver license",
                             "driving licence", "licence", "license", "DL", "certificate",
                             "cert", "permit", "registration"]),
    ], name="LicenseNumberRecognizer")


def vehicle_identifiers() -> ShapeRecognizer:
    return ShapeRecognizer("VEHICLE_ID", [
        labelled("vin", ["VIN", "vehicle identification", "vehicle", "chassis"],
                 value=r"[A-HJ-NPR-Z0-9]{11,17}"),
        labelled("plate", ["license plate", "licence plate", "number plate", "plate",
                           "tag", "registration plate"], value=r"[A-Z0-9][A-Z0-9\- ]{2,9}[A-Z0-9]"),
        Shape("vin_shape", r"\b(?=[A-HJ-NPR-Z0-9]{0,16}\d)(?=[A-HJ-NPR-Z0-9]{0,16}[A-Z])[A-HJ-NPR-Z0-9]{17}\b",
              0.6),
    ], name="VehicleIdRecognizer")


def device_identifiers() -> ShapeRecognizer:
    return ShapeRecognizer("DEVICE_ID", [
        labelled("serial", ["serial", "serial number", "serial no", "S/N", "SN", "lot", "lot number",
                            "UDI", "device", "device identifier", "implant ID", "implant serial",
                            "IMEI", "expander serial", "pacemaker"],
                 value=r"(?:\(\d{2}\)\s?)?" + ID_VALUE),
    ], name="DeviceIdRecognizer")


def other_identifiers() -> ShapeRecognizer:
    return ShapeRecognizer("ID_NUMBER", [
        labelled("id", ["ID", "identifier", "case number", "case", "claim", "reference",
                        "ref", "passport", "employee", "student", "badge", "member number",
                        "patient ID", "booking", "confirmation", "invoice", "ticket"],
                 score=0.7),
        Shape("long_number", r"(?<![\w\-/.])\d[\d\-]{5,}\d(?![\w\-/]|\.\d)", 0.45,
              validate=_is_long_number),
        Shape("mixed_code", r"\b[A-Z]{1,4}-?\d{5,20}[A-Z0-9]{0,10}\b",
              0.5, validate=_has_letters_and_digits),
    ], name="OtherIdRecognizer")


def phone_numbers() -> ShapeRecognizer:
    """North American shapes, which phonenumbers leaves out when they are fictional (555-01xx)
    yet look real to a reader; phonenumbers covers the other regions."""
    extension = r"(?:\s*(?:x|ext\.?|extension)\s*\d{1,5})?"
    return ShapeRecognizer("PHONE_NUMBER", [
        Shape("nanp", rf"(?<![\w+])(?:\+?1[\s.\-]?)?(?:\(\d{{3}}\)\s?|\d{{3}}[\s.\-])\d{{3}}"
              rf"[\s.\-]\d{{4}}{extension}(?![\w\-])", 0.7, I),
        Shape("international", r"(?<![\w+])\+\d{1,3}[\s.\-]?(?:\(0?\d{1,4}\)[\s.\-]?)?"
              r"\d{1,4}(?:[\s.\-]\d{2,4}){1,4}(?![\w\-])", 0.6),
        Shape("labelled", r"(?i:\b(?:phone|tel|telephone|cell|cellphone|mobile|fax|call (?:me|her|him)"
              r"(?: on| at)?|reach (?:me|her|him) at|contact number)\b\.?\s*(?:is\s+)?[:#]?\s*)"
              r"(?P<value>\+?(?:\(\d{1,4}\)\s?)?\d[\d\s.\-]{4,16}\d)(?![\d/])", 0.8,
              validate=lambda v: sum(c.isdigit() for c in v) >= 6),
    ], name="NorthAmericanPhoneRecognizer",
        context=["phone", "telephone", "tel", "cell", "mobile", "call", "fax", "contact",
                 "reach", "text"])


def ssn_with_label() -> ShapeRecognizer:
    return ShapeRecognizer("US_SSN", [
        labelled("ssn", ["SSN", "social security", "social", "SS#", "SS"],
                 value=r"\d{3}[\s\-.]?\d{2}[\s\-.]?\d{4}", score=0.95),
    ], name="LabelledSsnRecognizer")


def dates() -> ShapeRecognizer:
    """Dates with a day or a month; a year alone is not PHI and is never matched."""
    return ShapeRecognizer("DATE", [
        Shape("numeric", r"(?<![\d/.\-])(?:\d{1,2}[/\-.]\d{1,2}[/\-.]\d{4})(?![\d/\-]|\.\d)",
              0.85, validate=_plausible_numeric_date),
        Shape("numeric_short_year", r"(?<![\d/.\-])(?:\d{1,2}[/\-.]\d{1,2}[/\-.]\d{2})(?![\d/\-]|\.\d)",
              0.7, validate=_plausible_numeric_date),
        Shape("iso", r"\b(?:19|20)\d\d-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])\b", 0.8),
        # Year first with dots or slashes, as Asian and camera formats write it: 2026.11.27.
        Shape("year_first", r"(?<![\w./\-])(?:19|20)\d\d([./])(?:0?[1-9]|1[0-2])\1"
              r"(?:0?[1-9]|[12]\d|3[01])(?![\d]|\.\d)", 0.8),
        Shape("month_year_numeric", r"(?<![\d/])(?:0?[1-9]|1[0-2])/(?:19|20)\d\d\b", 0.6),
        Shape("month_day", rf"\b{MONTHS}\.?\s+{DAY}\b(?:,?\s+{YEAR}\b)?", 0.85),
        Shape("day_month", rf"\b{DAY}\s+(?:of\s+)?{MONTHS}\b\.?(?:,?\s+{YEAR}\b)?", 0.85),
        Shape("month_year", rf"\b{MONTHS}\.?,?\s+(?:of\s+)?{YEAR}\b", 0.75),
        Shape("day_month_caps", rf"(?<![\dA-Za-z])(?:0?[1-9]|[12]\d|3[01])\s*{MONTHS_CAPS_OCR}"
              rf"\s*'?(?:19|20)?\d\d(?!\d)", 0.85),
        Shape("month_day_caps", rf"(?<![\dA-Za-z]){MONTHS_CAPS_OCR}\s*(?:0?[1-9]|[12]\d|3[01])"
              rf"(?:,?\s*'?(?:19|20)?\d\d)?(?!\d)", 0.8),
        Shape("labelled_month", rf"(?i:\b(?:in|on|since|during|until|by|early|late|mid-?|"
              rf"end of|beginning of|DOB|DOS|born)\s+)(?P<value>{MONTHS}\b)(?!\s+\d)", 0.55),
    ], name="ClinicalDateRecognizer",
        context=["dob", "birth", "born", "surgery", "operation", "admitted", "admission",
                 "discharged", "visit", "seen", "dos", "procedure", "date"])


def _plausible_numeric_date(value: str) -> bool:
    parts = [int(p) for p in re.split(r"[/\-.]", value)]
    first, second = parts[0], parts[1]
    return 1 <= first <= 31 and 1 <= second <= 31 and (first <= 12 or second <= 12)


def ages_over_89() -> ShapeRecognizer:
    return ShapeRecognizer("AGE", [
        Shape("years_old", rf"\b{OVER_89}(?:\s*|-)(?:years?|yrs?|y)(?:\s*|-)(?:old|of age)\b", 0.9, I),
        Shape("yo", rf"\b{OVER_89}\s*(?:-\s*)?(?:yo|y/o|y\.o\.|yr|yrs)(?!\w)", 0.85, I),
        Shape("aged", rf"\b(?:aged?|age:)\s*(?P<value>{OVER_89})\b", 0.85, I),
        Shape("sex_age", rf"\b{OVER_89}\s?(?:[MF]|y/?o\s?[MF])\b", 0.7),
        Shape("decade", r"\b(?:nonagenarian|centenarian)\b", 0.7, I),
        Shape("in_her_90s", r"\bin\s+(?:his|her|their)\s+(?:nineties|90s|early 90s|late 90s)\b",
              0.6, I),
    ], name="AgeOver89Recognizer")


def person_names(regions: Iterable[str] = ()) -> ShapeRecognizer:
    """Names beside a title, a relation or a label; initials beside patient context.
    `regions`: countries and states, which after a comma make a place ("Austin, Texas"), not
    "Surname, Given"."""
    places = {region.lower() for region in regions}

    def not_a_place(value: str) -> bool:
        return "," not in value or value.split(",", 1)[1].strip().lower() not in places

    name = rf"{CAPITALISED}(?:\s+(?:[A-Z]\.\s+)?{CAPITALISED}){{0,2}}"
    relation = (r"(?:husband|wife|son|daughter|mother|father|mom|dad|sister|brother|partner|"
                r"spouse|fianc[ée]e?|boyfriend|girlfriend|aunt|uncle|niece|nephew|grandmother|"
                r"grandfather|grandson|granddaughter|cousin|caregiver|guardian|friend|"
                r"employer|boss|neighbou?r|twin)")
    initials = r"(?:[A-Z]\.\s?){2,3}|[A-Z]{2,3}\b"
    word = NAME_WORD
    label_name = (rf"{word}(?: {word})?,[ \t]*(?!{US_STATES}\b){word}"  # not "Boston, MA"
                  rf"(?:[ \t]+(?:[A-Z]\.?|{word}))?")
    # After a name label, a name may also come as a label prints it: "SMITH, JANE".
    labelled = rf"(?:{label_name}|{name})"
    return ShapeRecognizer("PERSON", [
        Shape("title", rf"\b(?:Mr|Mrs|Ms|Miss|Mx|Mister)\.?\s+(?P<value>{name})", 0.85),
        Shape("relation", rf"(?i:\b(?:her|his|their|patient's|pt's|the)\s+{relation}),?\s+"
              rf"(?:\(|named\s+)?(?P<value>{name})", 0.8),
        Shape("named", rf"\b(?:named|called|goes by|name is|nee|née)\s+(?P<value>{name})", 0.8),
        Shape("label", rf"(?i:\b(?:patient name|pt name|name|full name|emergency contact|"
              rf"next of kin|contact person|signed by patient|patient signature)\s*[:\-]\s*)"
              rf"(?P<value>{labelled})", 0.85, validate=not_a_place),
        Shape("patient_name", rf"(?i:\b(?:patient|pt\.?|client|our patient|subject)\s*[:,]?\s+)"
              rf"(?P<value>{CAPITALISED}\s+(?:[A-Z]\.\s+)?{CAPITALISED})", 0.75),
        # With a colon, the label is a form's field ("PATIENT: SMITH, JANE"); without one,
        # "patient ID, DOB verified" would read as a name.
        Shape("patient_label", rf"(?i:\b(?:patient|pt\.?|client)\s*:\s*)(?P<value>{label_name})",
              0.8, validate=not_a_place),
        Shape("name_then_identifier", rf"(?P<value>{CAPITALISED}\s+(?:[A-Z]\.\s+)?{CAPITALISED}),?\s+"
              rf"\(?(?:MRN|DOB|D\.O\.B|born|aged?|chart|\d{{1,3}}(?:-year| ?y/?o\b))", 0.75),
        # A label or wristband line that is only "Surname, Given" ("Okafor, Elena", "DOE,
        # JANE"): the small NER model misses a third of them (bench/watermark_bench.py).
        Shape("surname_comma_given", rf"(?m)^[ \t]*(?P<value>{label_name})[ \t]*$", 0.75,
              validate=not_a_place),
        Shape("initials", rf"(?i:\b(?:patient|pt\.?|client|initials|case of|subject)\s*[:,]?\s+)"
              rf"(?P<value>{initials})", 0.6),
        Shape("initials_with_age", r"\b(?P<value>(?:[A-Z]\.){2,3}|[A-Z]{2,3}\b)(?=,?\s+(?:is\s+)?"
              r"(?:an?\s+)?\(?\d{1,3}\s*(?:-|\s)?(?:year|yo|y/o|[MF]\b))", 0.7),
    ], name="PatientNameRecognizer")


class NameLineRecognizer(ShapeRecognizer):
    """A line that is only a name, as a label, a card or a wristband shows one ("Tomasz
    Herrera", "KOFI PHAM", "Siobhan A. Keane"): two or three name-shaped words, at least one of
    them no English word (`is_word`: the language model's own word tables), none of them a
    credential ("Kofi Pham MD" signs a mark). spaCy's small NER misses names it has not seen
    and names in capitals (bench/watermark_bench.py --phi-forms wide)."""

    def __init__(self, is_word: Callable[[str], bool], credentials: Iterable[str] = (),
                 score: float = 0.7) -> None:
        self.is_word = is_word
        self.credentials = {c.replace(".", "") for c in credentials}  # as written: "Thanh Do"
        line = (rf"(?m)^[ \t]*(?P<value>{NAME_WORD}(?:[ \t]+[A-Z]\.)?[ \t]+{NAME_WORD}"
                rf"(?:[ \t]+{NAME_WORD})?)[ \t]*$")
        super().__init__("PERSON", [Shape("name_line", line, score, validate=self._a_name)],
                         name="NameLineRecognizer")

    def _a_name(self, value: str) -> bool:
        words = [w for w in re.split(r"[\s.]+", value) if len(w) > 1]
        if any(w in self.credentials for w in words):
            return False
        return not all(self.is_word(re.sub(r"['’]", "", w)) for w in words)


def street_addresses() -> ShapeRecognizer:
    street_name = rf"(?:(?:\d+(?:st|nd|rd|th)|{CAPITALISED}|[NSEW]\.?)\s+){{1,4}}"
    unit = r"(?:,?\s+(?:Apt|Apartment|Unit|Suite|Ste|Fl|Floor|#)\.?\s*#?[A-Z0-9\-]+)?"
    return ShapeRecognizer("STREET_ADDRESS", [
        Shape("street", rf"\b\d{{1,6}}[A-Z]?\s+{street_name}{STREET_SUFFIX}\b\.?{unit}", 0.85),
        Shape("po_box", r"\bP\.?\s?O\.?\s+Box\s+\d+\b", 0.85, I),
        Shape("number_after_street", r"\b(?:Rua|Rue|Via|Viale|Calle|Avenida|Av\.|ul\.|Piazza|Largo|"
              r"Plaza|Praça)\s+(?:[\w'’\-.]+\s+){0,4}\d{1,5}[a-zA-Z]?\b", 0.7),
        Shape("suffix_street", r"\b[A-ZÀ-Þ][\w'’\-]*(?:vej|gade|gatan|vägen|väg|veien|strasse|straße|"
              r"str\.|weg|katu|tie|laan|straat|gasse|utca|ulica|tee|kuja|allee)\s+\d{1,5}[a-zA-Z]?\b"
              r"(?:,?\s+(?:Apt|Suite|Unit)\.?\s*\d+)?", 0.7),
        Shape("labelled", rf"(?i:\b(?:address|lives at|resides at|residing at|home at)\s*[:\-]?\s*)"
              rf"(?P<value>\d{{1,6}}[A-Z]?\s+(?:{CAPITALISED}\s+){{1,4}}{CAPITALISED}){unit}", 0.8),
        Shape("after_cue", r"(?i:\b(?:lives at|living at|resides at|residing at|address(?:\s+is)?|"
              r"located at|office is at|send (?:it|this|them) to|ship (?:it\s+)?to|delivered to|"
              r"mail (?:it\s+)?to)\s*:?\s*)(?P<value>\d{1,6}[A-Za-z]?\s+[^\n,;()]{2,50}?)"
              r"(?=[,;\n()]|\.(?:\s|$)|\?|$)", 0.7),
    ], name="StreetAddressRecognizer")


def cities_and_zip_codes(regions: list[str] = ()) -> list[ShapeRecognizer]:
    """`regions`: countries and states, after which a number is a postal code."""
    city = rf"{CAPITALISED}(?:\s+{CAPITALISED}){{0,2}}"
    region = "|".join(re.escape(r) for r in sorted(regions, key=len, reverse=True) if len(r) > 3)
    return [
        ShapeRecognizer("LOCATION", [
            Shape("city_state", rf"\b(?P<value>{city}),\s+{US_STATES}\b(?=[\s,.;)]|$)", 0.8),
            Shape("city_state_zip", rf"\b(?P<value>{city})\s+{US_STATES}\s+\d{{5}}\b", 0.8),
            Shape("after_street", rf"(?:\b{STREET_SUFFIX}\.?|\b(?:Apt|Apartment|Unit|Suite|Ste)\.?\s*"
                  rf"#?[A-Z0-9\-]+),\s+(?!(?:Apt|Apartment|Unit|Suite|Ste|Floor)\b)"
                  rf"(?P<value>{city})\b", 0.8),
            Shape("lives_in", rf"(?i:\b(?:lives in|living in|resides in|resident of|moved to|"
                  rf"relocated to|commutes from|from the town of|native of|hometown of|"
                  rf"town of|city of|village of)\s+)(?P<value>{city})", 0.7),
        ], name="CityRecognizer"),
        ShapeRecognizer("ZIP_CODE", [
            Shape("after_state", rf"\b{US_STATES},?\s+(?P<value>\d{{5}}(?:-\d{{4}})?)\b", 0.9),
            labelled("zip", ["zip", "zip code", "zipcode", "postal code", "postcode"],
                     value=r"\d{3,5}(?:-\d{3,4})?|[A-Z]\d[A-Z]\s?\d[A-Z]\d|[A-Z]{1,2}\d[A-Z\d]?\s?\d[A-Z]{2}",
                     score=0.9),
            *([Shape("after_region", rf"\b(?:{region}),?\s+(?P<value>\d{{4,5}}(?:-\d{{3,4}})?)\b", 0.75)]
              if region else []),
        ], name="ZipCodeRecognizer"),
    ]


def author_names(names: list[str], practices: list[str]) -> list[ShapeRecognizer]:
    """The surgeon's own name and practice, from settings: reported apart from patient PHI."""
    recognizers = []
    for entity, terms, recognizer in (("AUTHOR_PERSON", names, "AuthorNameRecognizer"),
                                      ("AUTHOR_ORGANIZATION", practices, "PracticeNameRecognizer")):
        terms = [term for term in terms if term.strip()]
        if terms:
            pattern = "|".join(re.escape(term) for term in sorted(terms, key=len, reverse=True))
            recognizers.append(ShapeRecognizer(
                entity, [Shape("configured", rf"(?<!\w)(?:{pattern})(?!\w)", 1.0, I)],
                name=recognizer))
    return recognizers


def clinical_recognizers(regions: list[str] = ()) -> list[ShapeRecognizer]:
    return [
        medical_record_numbers(), health_plan_numbers(), account_numbers(), license_numbers(),
        vehicle_identifiers(), device_identifiers(), other_identifiers(), ssn_with_label(),
        phone_numbers(), dates(), ages_over_89(), person_names(regions), street_addresses(),
        *cities_and_zip_codes(regions),
    ]
