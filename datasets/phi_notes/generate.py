"""Seeded generator of the clinical PHI test set: plastic-surgery case descriptions and
procedure fields with span annotations.

    python -m datasets.phi_notes.generate --seed 20261125 --out datasets/phi_notes/v2

Each record: `id`, `split` (train / dev / test), `procedure`, `context` ("description" or the
field name), `text`, `spans` (start, end, entity_type, category), `negatives` (the kinds of
look-alike text it holds: eponym, product, volume, cup_size, duration, age_under_90, year,
clinician, place_above_state, author). Each split is written with its own sentence phrasings
(train A, dev B, test C) and its own name and place pools, so the test split is held out
twice over: no rule was tuned on its phrasings or its names.

Version 2.0: in 1.0, the test split (phrasings B) was evaluated once and then used for tuning;
it became the dev split here, and a fresh test split (phrasings C, `heldout` pools) was
written before any rule was changed again.

Annotation conventions: a name without its title ("Mrs."), a date as written ("June 3, 2024",
"06/2023"), an age over 89 with its unit ("93-year-old"), an address as street line, city and
ZIP code apart (the state is not PHI), an identifier's value without its label ("MRN").
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import string
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from datasets.phi_notes import vocabulary as V

VERSION = "2.0"
SPLIT_SIZES = {"train": 200, "dev": 120, "test": 150}          # case descriptions
FIELD_SPLIT_SIZES = {"train": 60, "dev": 40, "test": 50}       # procedure text fields
# Each split has its own sentence phrasings and its own name and place pools.
PHRASING = {"train": "A", "dev": "B", "test": "C"}
POOL = {"train": "train", "dev": "dev", "test": "heldout"}
SET_INDEX = {"A": 0, "B": 1, "C": 2}
CLEAN_SHARE = 0.3  # notes with no patient PHI at all (look-alikes only)
SLOT = re.compile(r"\{(\w+)\}")
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December"]

# ------------------------------------------------------------------ phrasings
# Set A feeds train and dev; set B only test.
OPENERS = {
    "A": ["{age_u90}-year-old {sex} presenting for {proc}.",
          "Mrs. {surname}, a {age_u90}-year-old {sex}, presented for {proc}.",
          "Patient {full_name} (DOB {dob}) presented for {proc}.",
          "Patient {initials}, {age_u90}{sex_letter}, requested {proc}.",
          "This {age_over_89} {sex} requested {proc}.",
          "{full_name}, MRN {mrn}, underwent {proc}.",
          "{age_u90}-year-old {sex}, nonsmoker, BMI {bmi}, for {proc}."],
    "B": ["Our patient, {full_name}, is a {age_u90}-year-old {sex} who wanted {proc}.",
          "Ms. {surname} ({age_u90}) came in for {proc}.",
          "{initials} is a {age_u90} y/o {sex} seeking {proc}.",
          "A {age_over_89} {sex}, born {dob}, was seen for {proc}.",
          "Case: {full_name}, chart {mrn}, {proc}.",
          "{age_u90} yo {sex} with a BMI of {bmi}; {proc}.",
          "Healthy {age_u90}-year-old {sex} referred for {proc}."],
    "C": ["{full_name} is {age_u90} and came to us for {proc}.",
          "New patient, {age_u90}-year-old {sex}, seeking {proc}.",
          "Pt {initials} ({age_u90}{sex_letter}) underwent {proc}.",
          "{age_over_89} {sex}, sharp and independent, requested {proc}.",
          "MRN {mrn} - {age_u90}-year-old {sex} - {proc}.",
          "Presenting complaint in this {age_u90}-year-old {sex}: request for {proc}.",
          "Case summary ({proc}): {age_u90} y/o {sex}, never smoker."],
}
OPENER_HAS_PHI = {"{surname}", "{full_name}", "{initials}", "{age_over_89}", "{mrn}", "{dob}"}

TIMELINE = {
    "A": [("Surgery was performed on {date}.", True),
          ("Photographs were taken at {duration} post-op.", False),
          ("She returned in {month_year} for follow-up.", True),
          ("Seen at {duration}; results stable since {year}.", False),
          ("Follow-up visit on {date}: healing well.", True),
          ("Results shown at {duration}.", False)],
    "B": [("Date of surgery: {date}.", True),
          ("After photos taken {duration} postoperatively.", False),
          ("Operated {date}, reviewed {duration} later.", True),
          ("Admitted {date} and discharged the next morning.", True),
          ("Last visit was in {month_year}, about {duration} out.", True),
          ("Before photos from {year}; after photos at {duration}.", False)],
    "C": [("Operation date {date}; uneventful recovery.", True),
          ("Pictures at {duration} show a stable result.", False),
          ("Reviewed in clinic {date}.", True),
          ("Second stage planned for {month_year}.", True),
          ("Result at {duration}, photographed in {year}.", False),
          ("Final photos {duration} after surgery.", False)],
}

# One phrasing list per identifier: (set A, set B, set C).
PHI_SENTENCES: dict[str, tuple[list[str], list[str], list[str]]] = {
    "relative": (["Her husband {first} drove her home.",
                  "Accompanied by her daughter {full_name}.",
                  "His wife, {first}, asked about scar care."],
                 ["Pt's spouse, {first}, was present for the consult.",
                  "Emergency contact: {full_name} (sister).",
                  "She was brought in by her son {full_name}."],
                 ["Mother ({full_name}) signed as guardian.",
                  "Partner {full_name} will help with drain care.",
                  "Her fiancé, {first}, attended the pre-op visit."]),
    "address": (["She lives at {street}, {city}, {state} {zip}.",
                  "Home address: {street}, {city}."],
                 ["Resides at {street} in {city}.",
                  "Mailing address {street}, {city}, {state} {zip}."],
                 ["Pt address on file: {street}, {city}, {state} {zip}.",
                 "She moved to {street}, {city} last spring."]),
    "city": (["She lives in {city_only} and travels for follow-up.",
               "Lives in {city_only}, {state}."],
              ["Commutes from {city_only} for appointments.",
               "Patient is a resident of {city_only}."],
                 ["Originally from {city_only}, {state}; now local.",
              "Drives two hours each way from {city_only}."]),
    "phone": (["Phone {phone}.", "Call her at {phone} with results."],
               ["Best contact number is {phone}.", "Cell: {phone}."],
                 ["Mobile {phone}, prefers texts.", "Reach her on {phone} after 5 pm."]),
    "fax": (["Referral faxed to {fax}."], ["Records sent by fax to {fax}."],
                 ["Fax: {fax} (referring office)."]),
    "email": (["Email: {email}.", "Send the photos to {email}."],
               ["She asked for the photos at {email}.", "Contact via e-mail {email}."],
                 ["Patient e-mail: {email}", "Photos were emailed to {email} for approval."]),
    "ssn": (["SSN {ssn} on the consent form."],
             ["Social security no. {ssn} was recorded by billing."],
                 ["SS# {ssn} appears on the intake sheet."]),
    "mrn": (["MRN {mrn}.", "Medical record #{mrn}."],
             ["Hospital record number {mrn}.", "Chart no. {mrn} at the hospital."],
                 ["MR# {mrn}.", "EMR number {mrn} noted on the photo consent."]),
    "health_plan": (["{insurer} member ID {hp}.", "Insurance ID {hp} on file."],
                     ["Insurance policy number {hp} ({insurer}).",
                      "Health plan subscriber no. {hp}."],
                 ["Medicaid ID {hp}.", "{insurer} plan, subscriber ID {hp}."]),
    "account": (["Billing account {acct}.", "Paid with card {card}."],
                 ["Financing account no. {acct}.", "Deposit charged to card {card}."],
                 ["Acct #{acct} paid in full.", "Card on file: {card}."]),
    "license": (["Driver's license {dl} checked at intake."],
                 ["ID verified at check-in: DL# {dl}."],
                 ["Photo ID: driver license no. {dl}."]),
    "vehicle": (["Injured in a car accident; vehicle VIN {vin}.",
                  "License plate {plate} per the police report."],
                 ["Her car (VIN {vin}) was totaled in the collision.",
                  "Accident report lists plate number {plate}."],
                 ["Seat-belt injury; car VIN {vin}.", "Tag {plate} on the accident report."]),
    "device": (["{implant} implant serial number {serial}.", "Implant lot {lot}."],
                ["Device S/N {serial} recorded in the implant registry.",
                 "Implant lot number {lot} logged."],
                 ["Tissue expander serial {serial}.", "Implant lot #{lot} / {implant}."]),
    "url": (["She posts her recovery at {url}."], ["Recovery blog: {url}."],
                 ["Before/after diary on {url}."]),
    "ip": (["Consent e-signed from IP {ip}."], ["Photo upload logged from {ip}."],
                 ["Portal login from IP address {ip}."]),
    "other_id": (["Claim number {claim}.", "Passport {passport} copied for travel."],
                  ["Case ID {claim} with the insurer.", "Employee ID {employee} (work note)."],
                 ["Reference number {claim} for the prior authorization.", "Passport no. {passport}."]),
    "date": (["Date of birth {dob}.", "Seen on {date} for suture removal."],
              ["DOB: {dob}.", "Returned {date} with mild swelling."],
                 ["Born {dob}.", "Procedure date {date}."]),
    "age": (["She is {age_over_89} and in good health."],
             ["Now {age_over_89}, she remains active."],
                 ["At {age_over_89} she is our oldest facelift patient."]),
}
AUTHOR_SENTENCES = {
    "A": ["Procedure performed by Dr. Karen Holt at Holt Aesthetic Surgery.",
          "Dr. Holt's standard recovery protocol was used."],
    "B": ["Surgeon: Karen Holt, MD.", "Photos courtesy of Lakeshore Plastic Surgery Center."],
    "C": ["Operating surgeon Karen Holt; photos by Holt Aesthetic Surgery staff.",
          "Case submitted by Dr. Holt."],
}
NEGATIVE_SENTENCES = {
    "A": ["Anesthesia by Dr. {clinician}.", "She flew in from {place} for surgery.",
          "Cup size went from {cup} to {cup2}.", "Drains removed on POD {pod}.",
          "Scar care with silicone gel for {duration}."],
    "B": ["Referred by Dr. {clinician} for a second opinion.",
          "Traveled from {place}; stayed locally for {duration}.",
          "She moved from a {cup} to a {cup2}.", "Compression garment for {duration}.",
          "{year} photos for comparison."],
    "C": ["Co-surgeon Dr. {clinician} closed the incisions.", "Vacationing from {place}.",
          "Bra size {cup} before, {cup2} after.", "Off work for {duration}.",
          "Physical therapy for {duration}, started on POD {pod}."],
}

# Procedure narratives: full of eponyms, products, volumes and sizes (never PHI).
NARRATIVES: dict[str, tuple[str, list[str], list[str], list[str]]] = {
    "breast_augmentation": ("breast augmentation", [
        "Bilateral {implant} {volume} smooth round implants were placed through an inframammary "
        "incision in a dual-plane pocket using a Keller Funnel.",
        "Preoperative cup size {cup}; {implant} {volume} silicone chosen after sizing."], [
        "{implant} {volume} implants, subpectoral, inframammary approach, {suture} closure.",
        "Upsized from {cup} with {implant} {volume} high-profile gel implants."], [
        "Periareolar approach, subglandular pocket, {implant} {volume} textured implants.",
        "Sizers of {volume} tried; final {implant} {volume}; {cup} expected."]),
    "breast_reduction": ("breast reduction", [
        "Wise pattern reduction with an inferior pedicle; {grams} g removed from the right "
        "breast and {grams} g from the left.",
        "Closure with {suture}; Exparel TAP block for analgesia."], [
        "Wise-pattern skin excision, superomedial pedicle, {grams} g resected per side.",
        "Hall-Findlay vertical technique considered; Wise pattern chosen for ptosis."], [
        "Inferior pedicle with Wise pattern markings; {grams} g and {grams} g resected.",
        "Closure in three layers with {suture}; Exparel infiltration."]),
    "breast_lift": ("mastopexy", [
        "Regnault grade 3 ptosis corrected with a Wise pattern mastopexy and {implant} "
        "{volume} implants.", "Benelli round block was used on the smaller side."], [
        "Benelli round block periareolar lift for Regnault grade 1 ptosis.",
        "Vertical mastopexy with GalaFLEX support; {cup} after healing."], [
        "Wise pattern mastopexy for Regnault grade 3 ptosis, no implants.",
        "Internal bra with GalaFLEX; {suture} subcuticular."]),
    "rhinoplasty": ("open rhinoplasty", [
        "Open approach with spreader grafts, tip sutures and lateral osteotomies; {suture} "
        "for the columellar incision.", "Septal cartilage harvested for a columellar strut."], [
        "Structural rhinoplasty: caudal septal extension graft, alar rim grafts, Tessier-style "
        "osteotomies avoided.", "Dorsal hump reduced by {mm} mm; Dermabond to the columella."], [
        "Closed rhinoplasty, cartilage-sparing hump reduction, {mm} mm.",
        "Spreader flaps instead of grafts; {suture} to the marginal incisions."]),
    "facelift": ("facelift", [
        "Deep plane facelift with platysmaplasty; Pitanguy's line marked to protect the "
        "frontal branch.", "Fat grafting {volume} to the midface; Tisseel for hemostasis."], [
        "SMAS plication facelift and neck lift; Lockwood's ligament respected in the lower lid.",
        "Renuvion to the submental skin; {volume} fat to the nasolabial folds."], [
        "Extended SMAS facelift with Pitanguy's line as the landmark for the frontal branch.",
        "Lipofilling {volume} to the temples; Tisseel sprayed before closure."]),
    "dermal_filler": ("filler and neuromodulator treatment", [
        "{injectable} {volume} to the cheeks and {units} units of Botox to the glabella.",
        "Fitzpatrick type IV skin, Glogau II; Restylane Kysse {volume} to the lips."], [
        "{units} units of Dysport and {injectable} {volume} to the jawline.",
        "Sculptra two vials over {duration}; Xeomin {units} units to the crow's feet."], [
        "{injectable} {volume} by cannula to the midface; Botox {units} units to the masseters.",
        "Touch-up with {injectable} {volume} at {duration}."]),
    "abdominoplasty": ("abdominoplasty with liposuction", [
        "Full abdominoplasty with rectus plication; VASER liposuction of the flanks, "
        "{volume} aspirate.", "Scarpa's fascia preserved; Jackson-Pratt drains placed."], [
        "Fleur-de-lis abdominoplasty after massive weight loss; Camper's fascia closed with "
        "{suture}.", "BodyTite to the flanks and {volume} liposuction aspirate."], [
        "Mini abdominoplasty, Scarpa's fascia left intact, Jackson-Pratt drain for {duration}.",
        "Liposuction of the flanks, {volume} removed."]),
    "buttock_augmentation": ("Brazilian butt lift", [
        "Subcutaneous fat grafting, {volume} per buttock, under ultrasound guidance.",
        "Liposuction of the back and flanks; compression garment for {duration}."], [
        "BBL with {volume} to each buttock, subcutaneous plane only.",
        "Donor sites: abdomen, flanks and back; Renuvion skin tightening."], [
        "Fat transfer, {volume} to each side, subcutaneous only.",
        "Renuvion to the back rolls; garment for {duration}."]),
    "cleft_lip_repair": ("cleft lip repair", [
        "Millard rotation-advancement repair of a unilateral cleft lip; Furlow palatoplasty "
        "planned.", "Tessier 3 cleft considered and excluded on CT."], [
        "Modified Millard repair with primary tip rhinoplasty.",
        "Le Fort I advancement planned at skeletal maturity."], [
        "Millard rotation-advancement with a Tessier-informed nasal floor repair.",
        "Le Fort I advancement discussed for later."]),
    "skin_cancer_reconstruction": ("reconstruction after Mohs surgery", [
        "Mohs defect of {mm} mm on the nasal sidewall closed with a Limberg flap.",
        "Burow's triangle excised; {suture} sutures removed at {duration}."], [
        "Abbe flap for a lower-lip Mohs defect, divided at {duration}.",
        "Bilobed flap with Burow's triangle; Prolene {suture} sutures."], [
        "Limberg flap for a {mm} mm Mohs defect on the temple.",
        "Burow's triangle to close the secondary defect."]),
    "otoplasty": ("otoplasty", [
        "Mustarde sutures to recreate the antihelical fold and Furnas sutures for conchal "
        "setback.", "Headband at night for {duration}."], [
        "Conchal setback with Furnas sutures; Mustarde mattress sutures with {suture}.",
        "Protective headband worn for {duration}."], [
        "Mustarde sutures x3 per ear, Furnas conchal setback.",
        "Headband for {duration} at night."]),
    "gynecomastia": ("gynecomastia surgery", [
        "Tanner stage V; VASER liposuction with {volume} aspirate and pull-through gland "
        "excision.", "Compression vest for {duration}."], [
        "Power-assisted liposuction ({volume}) and periareolar gland excision.",
        "Norwood-type hairline noted incidentally; no scalp surgery."], [
        "Tanner stage V, VASER {volume}, small periareolar excision.",
        "Vest for {duration}."]),
    "blepharoplasty_upper": ("upper blepharoplasty", [
        "Upper lid skin excision of {mm} mm; Prolene {suture} running closure.",
        "Fat pad sculpting medially; Muller's muscle not involved."], [
        "Skin-muscle excision of {mm} mm, medial fat pad reduced.",
        "Sutures removed at {duration}."], [
        "{mm} mm skin pinch excision, {suture} running.",
        "Brow position normal; no Muller's muscle work."]),
}
FIELDS: dict[str, list[str]] = {
    "breast_augmentation": ["implant_size", "technique_notes"],
    "rhinoplasty": ["grafts", "technique_notes"],
    "dermal_filler": ["product", "technique_notes"],
    "facelift": ["technique_notes"],
    "buttock_augmentation": ["technique_notes"],
    "facial_fat_grafting": ["donor_site", "technique_notes"],
    "scar_revision": ["body_site", "technique_notes"],
}
FIELD_VALUES_CLEAN = {
    "implant_size": ["{volume}", "{implant} {volume}", "{volume} left, {volume} right"],
    "grafts": ["septal spreader grafts, columellar strut", "conchal cartilage to the alar rims",
               "diced cartilage in fascia (DCF) to the dorsum"],
    "product": ["{injectable} {volume}", "{units} units Botox", "{injectable}, {volume} per side"],
    "donor_site": ["abdomen and flanks", "inner thighs", "lower back, {volume} harvested"],
    "body_site": ["left cheek", "right forearm, {mm} mm scar", "abdomen, C-section scar"],
    "technique_notes": ["{eponym} technique; {suture} closure.", "Photos at {duration} post-op.",
                        "Fitzpatrick type IV; results at {duration}."],
}
FIELD_VALUES_PHI_C = {
    "implant_size": [("{volume}; expander serial {serial}", "device")],
    "grafts": [("costal cartilage, harvested {date}", "date")],
    "product": [("{injectable} {volume} lot #{lot}", "device")],
    "donor_site": [("thighs (pt {initials})", "initials")],
    "body_site": [("right cheek; plate {plate} accident", "vehicle")],
    "technique_notes": [("Mrs. {surname} asked for a natural result.", "name"),
                        ("Call back on {phone}.", "phone"),
                        ("Consent form signed {date}.", "date"),
                        ("Pt email {email}.", "email")],
}
FIELD_VALUES_PHI = {
    "implant_size": [("{volume}, serial {serial}", "device"), ("{implant} {volume}, lot {lot}", "device")],
    "grafts": [("rib graft harvested {date}", "date"), ("septal grafts; see MRN {mrn}", "mrn")],
    "product": [("{injectable} {volume}, lot {lot}", "device"), ("{units} units Botox on {date}", "date")],
    "donor_site": [("abdomen (patient {initials})", "initials"), ("flanks; DOB {dob}", "date")],
    "body_site": [("scar from a crash, VIN {vin}", "vehicle"), ("left cheek, Mrs. {surname}", "name")],
    "technique_notes": [("Per Mrs. {surname}'s request, {eponym} technique.", "name"),
                        ("Follow-up call to {phone}.", "phone"),
                        ("Photos emailed to {email}.", "email"),
                        ("Surgery on {date} at {duration} after the first stage.", "date"),
                        ("Patient {full_name} consented to publication.", "name")],
}
PHI_KINDS = list(PHI_SENTENCES)


@dataclass
class Note:
    text: str = ""
    spans: list[dict] = field(default_factory=list)
    negatives: set[str] = field(default_factory=set)

    def add(self, piece: str, entity: str | None = None, category: str = "patient",
            negative: str | None = None) -> None:
        if entity:
            self.spans.append({"start": len(self.text), "end": len(self.text) + len(piece),
                               "entity_type": entity, "category": category})
        if negative:
            self.negatives.add(negative)
        self.text += piece


class Filler:
    """Fills slots with made-up values from one split's pools."""

    def __init__(self, rng: random.Random, pool: str) -> None:
        self.rng, self.pool = rng, pool
        self.person: tuple[str, str] = ("", "")
        self.new_person()

    def new_person(self) -> None:
        self.person = (self.rng.choice(V.FIRST_NAMES[self.pool]),
                       self.rng.choice(V.SURNAMES[self.pool]))

    def fill(self, note: Note, slot: str) -> None:
        method = getattr(self, f"slot_{slot}", None)
        if method is None:
            raise KeyError(f"no filler for slot {slot}")
        method(note)

    def _digits(self, n: int) -> str:
        return "".join(self.rng.choice(string.digits) for _ in range(n))

    def _letters(self, n: int) -> str:
        return "".join(self.rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(n))

    # -------------------------------------------------------- PHI
    def slot_full_name(self, note: Note) -> None:
        first, last = self.person
        if self.rng.random() < 0.15:
            note.add(f"{first} {self.rng.choice(string.ascii_uppercase)}. {last}", "PERSON")
        else:
            note.add(f"{first} {last}", "PERSON")

    def slot_surname(self, note: Note) -> None:
        note.add(self.person[1], "PERSON")

    def slot_first(self, note: Note) -> None:
        note.add(self.rng.choice(V.FIRST_NAMES[self.pool]), "PERSON")

    def slot_initials(self, note: Note) -> None:
        first, last = self.person
        style = self.rng.choice(["dots", "dots", "plain"])
        note.add(f"{first[0]}.{last[0]}." if style == "dots" else f"{first[0]}{last[0]}", "PERSON")

    def slot_dob(self, note: Note) -> None:
        year = self.rng.randint(1938, 2004)
        self._date(note, year)

    def slot_date(self, note: Note) -> None:
        self._date(note, self.rng.randint(2018, 2025))

    def _date(self, note: Note, year: int) -> None:
        month, day = self.rng.randint(1, 12), self.rng.randint(1, 28)
        formats = [f"{month:02d}/{day:02d}/{year}", f"{month}/{day}/{year % 100:02d}",
                   f"{MONTHS[month - 1]} {day}, {year}", f"{day} {MONTHS[month - 1]} {year}",
                   f"{MONTHS[month - 1][:3]} {day}, {year}", f"{year}-{month:02d}-{day:02d}",
                   f"{MONTHS[month - 1]} {day}"]
        note.add(self.rng.choice(formats), "DATE")

    def slot_month_year(self, note: Note) -> None:
        month, year = self.rng.randint(1, 12), self.rng.randint(2018, 2025)
        note.add(self.rng.choice([f"{MONTHS[month - 1]} {year}", f"{month:02d}/{year}"]), "DATE")

    def slot_age_over_89(self, note: Note) -> None:
        age = self.rng.randint(90, 103)
        note.add(self.rng.choice([f"{age}-year-old", f"{age} years old", f"{age} y/o",
                                  f"aged {age}"]), "AGE")

    def slot_street(self, note: Note) -> None:
        number = self.rng.randint(3, 9800)
        street = self.rng.choice(V.STREETS[self.pool])
        unit = self.rng.choice(["", "", f", Apt {self.rng.randint(1, 40)}{self.rng.choice('ABCD')}"])
        note.add(f"{number} {street}{unit}", "STREET_ADDRESS")

    def _city_state(self) -> tuple[str, str]:
        return self.rng.choice(V.CITIES[self.pool])

    def slot_city(self, note: Note) -> None:
        city, self._state = self._city_state()
        note.add(city, "LOCATION")

    slot_city_only = slot_city

    def slot_state(self, note: Note) -> None:
        note.add(getattr(self, "_state", "IL"))

    def slot_zip(self, note: Note) -> None:
        zip_code = self._digits(5)
        if self.rng.random() < 0.2:
            zip_code += "-" + self._digits(4)
        note.add(zip_code, "ZIP_CODE")

    def _phone(self) -> str:
        area, last = self.rng.randint(201, 989), self.rng.randint(100, 199)
        line = f"01{last % 100:02d}"  # 555-0100 to 555-0199 are reserved for fiction
        return self.rng.choice([f"({area}) 555-{line}", f"{area}-555-{line}",
                                f"{area}.555.{line}", f"+1 {area} 555 {line}"])

    def slot_phone(self, note: Note) -> None:
        note.add(self._phone(), "PHONE_NUMBER")

    def slot_fax(self, note: Note) -> None:
        note.add(self._phone(), "FAX_NUMBER")

    def slot_email(self, note: Note) -> None:
        first, last = self.person
        local = self.rng.choice([f"{first.lower()}.{last.lower()}", f"{first[0].lower()}{last.lower()}"
                                 f"{self.rng.randint(1, 99)}", f"{first.lower()}{self._digits(2)}"])
        note.add(f"{local}@{self.rng.choice(V.EMAIL_DOMAINS)}", "EMAIL_ADDRESS")

    def slot_ssn(self, note: Note) -> None:
        note.add(f"{self.rng.randint(101, 665)}-{self.rng.randint(10, 99)}-"
                 f"{self.rng.randint(1000, 9999)}", "US_SSN")

    def slot_mrn(self, note: Note) -> None:
        note.add(self.rng.choice([self._digits(8), f"{self._digits(4)}-{self._digits(4)}",
                                  f"{self._letters(1)}{self._digits(7)}"]), "MEDICAL_RECORD_NUMBER")

    def slot_insurer(self, note: Note) -> None:
        note.add(self.rng.choice(V.INSURERS))

    def slot_hp(self, note: Note) -> None:
        note.add(self.rng.choice([f"{self._letters(1)}{self._digits(9)}",
                                  f"{self._digits(1)}{self._letters(2)}{self._digits(1)}-"
                                  f"{self._letters(2)}{self._digits(1)}-{self._letters(2)}{self._digits(2)}",
                                  f"{self._letters(3)}{self._digits(9)}"]), "HEALTH_PLAN_NUMBER")

    def slot_acct(self, note: Note) -> None:
        note.add(self.rng.choice([self._digits(9), f"{self._digits(4)}-{self._digits(4)}-{self._digits(2)}"]),
                 "ACCOUNT_NUMBER")

    def slot_card(self, note: Note) -> None:
        digits = [int(d) for d in "4" + self._digits(14)]
        total = sum(d if i % 2 else (d * 2 - 9 if d * 2 > 9 else d * 2) for i, d in enumerate(digits))
        digits.append((10 - total % 10) % 10)
        number = "".join(map(str, digits))
        note.add(" ".join(number[i:i + 4] for i in range(0, 16, 4)), "ACCOUNT_NUMBER")

    def slot_dl(self, note: Note) -> None:
        note.add(self.rng.choice([f"{self._letters(1)}{self._digits(7)}",
                                  f"{self._letters(1)}{self._digits(3)}-{self._digits(4)}-{self._digits(4)}"]),
                 "LICENSE_NUMBER")

    def slot_vin(self, note: Note) -> None:
        chars = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"
        vin = self._digits(1) + "".join(self.rng.choice(chars) for _ in range(10)) + self._digits(6)
        note.add(vin, "VEHICLE_ID")

    def slot_plate(self, note: Note) -> None:
        note.add(self.rng.choice([f"{self._digits(1)}{self._letters(3)}{self._digits(3)}",
                                  f"{self._letters(3)}-{self._digits(4)}"]), "VEHICLE_ID")

    def slot_serial(self, note: Note) -> None:
        note.add(self.rng.choice([f"{self._digits(8)}-{self._digits(3)}",
                                  f"{self._letters(3)}-{self._digits(4)}-{self._digits(4)}"]), "DEVICE_ID")

    def slot_lot(self, note: Note) -> None:
        note.add(f"{self._letters(1)}{self._digits(5)}{self._letters(1)}", "DEVICE_ID")

    def slot_url(self, note: Note) -> None:
        first, last = self.person
        note.add(self.rng.choice([f"www.{first.lower()}s-journey.com",
                                  f"https://instagram.com/{first.lower()}.{last.lower()}",
                                  f"facebook.com/{first.lower()}{last.lower()}{self._digits(2)}",
                                  f"https://{last.lower()}recovery.blog"]), "URL")

    def slot_ip(self, note: Note) -> None:
        note.add(".".join(str(self.rng.randint(1, 254)) for _ in range(4)), "IP_ADDRESS")

    def slot_claim(self, note: Note) -> None:
        note.add(self.rng.choice([f"CLM-{self._digits(7)}", f"{self._digits(4)}-{self._digits(5)}"]),
                 "ID_NUMBER")

    def slot_passport(self, note: Note) -> None:
        note.add(self._digits(9), "ID_NUMBER")

    def slot_employee(self, note: Note) -> None:
        note.add(f"E-{self._digits(6)}", "ID_NUMBER")

    # -------------------------------------------------------- look-alikes (never PHI)
    def slot_age_u90(self, note: Note) -> None:
        note.add(str(self.rng.randint(19, 78)), negative="age_under_90")

    def slot_sex(self, note: Note) -> None:
        note.add(self.rng.choice(["female", "female", "woman", "male"]))

    def slot_sex_letter(self, note: Note) -> None:
        note.add(self.rng.choice(["F", "F", "M"]))

    def slot_bmi(self, note: Note) -> None:
        note.add(f"{self.rng.randint(19, 34)}.{self.rng.randint(0, 9)}")

    def slot_proc(self, note: Note) -> None:
        note.add(self._procedure_words)

    def slot_duration(self, note: Note) -> None:
        n = self.rng.randint(2, 18)
        note.add(self.rng.choice([f"{n} months", f"{n} weeks", "1 month", f"{n} days",
                                  f"{n} months post-op", f"{self.rng.randint(1, 3)} years",
                                  "one year", "six weeks"]), negative="duration")

    def slot_year(self, note: Note) -> None:
        note.add(str(self.rng.randint(2015, 2025)), negative="year")

    def slot_volume(self, note: Note) -> None:
        note.add(self.rng.choice([f"{self.rng.randrange(200, 600, 25)} cc",
                                  f"{self.rng.randrange(200, 600, 25)}cc",
                                  f"{self.rng.choice([1, 2, 3])} mL", f"{self.rng.randrange(150, 500, 10)} ml"]),
                 negative="volume")

    def slot_cup(self, note: Note) -> None:
        self._band, self._cup = self.rng.choice([32, 34, 36, 38]), self.rng.randint(0, 2)
        note.add(f"{self._band}{'ABCD'[self._cup]}", negative="cup_size")

    def slot_cup2(self, note: Note) -> None:
        cup = ["B", "C", "D", "DD", "DDD"][self._cup + self.rng.randint(0, 2)]
        note.add(f"{self._band}{cup}", negative="cup_size")

    def slot_implant(self, note: Note) -> None:
        note.add(self.rng.choice(V.IMPLANT_PRODUCTS), negative="product")

    def slot_injectable(self, note: Note) -> None:
        note.add(self.rng.choice(V.INJECTABLES), negative="product")

    def slot_eponym(self, note: Note) -> None:
        note.add(self.rng.choice(V.EPONYMS), negative="eponym")

    def slot_suture(self, note: Note) -> None:
        note.add(f"{self.rng.choice([3, 4, 5, 6])}-0 {self.rng.choice(['Monocryl', 'Vicryl', 'Prolene', 'PDS'])}",
                 negative="product")

    def slot_grams(self, note: Note) -> None:
        note.add(str(self.rng.randrange(250, 1200, 5)))

    def slot_units(self, note: Note) -> None:
        note.add(str(self.rng.randrange(10, 60, 2)))

    def slot_mm(self, note: Note) -> None:
        note.add(str(self.rng.randint(2, 25)))

    def slot_pod(self, note: Note) -> None:
        note.add(str(self.rng.randint(1, 14)), negative="duration")

    def slot_clinician(self, note: Note) -> None:
        note.add(self.rng.choice(V.CLINICIANS), negative="clinician")

    def slot_place(self, note: Note) -> None:
        note.add(self.rng.choice(V.STATES_AND_COUNTRIES), negative="place_above_state")


def render(note: Note, template: str, filler: Filler) -> None:
    position = 0
    for match in SLOT.finditer(template):
        literal = template[position:match.start()]
        note.add(literal)
        filler.fill(note, match.group(1))
        position = match.end()
    note.add(template[position:])


def render_author(note: Note, sentence: str) -> None:
    """The author sentences name the surgeon and the practice: category `author`."""
    position = 0
    terms = sorted(V.AUTHOR_NAMES + V.PRACTICE_NAMES, key=len, reverse=True)
    pattern = re.compile("|".join(re.escape(t) for t in terms))
    for match in pattern.finditer(sentence):
        note.add(sentence[position:match.start()])
        entity = "ORGANIZATION" if match.group() in V.PRACTICE_NAMES else "PERSON"
        note.add(match.group(), entity, category="author", negative="author")
        position = match.end()
    note.add(sentence[position:])


class NoteGenerator:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self._kinds: dict[str, list[str]] = {}

    def _next_kind(self, split: str) -> str:
        """Identifier kinds in shuffled rounds, so every split holds every kind."""
        queue = self._kinds.setdefault(split, [])
        if not queue:
            queue.extend(self.rng.sample(PHI_KINDS, len(PHI_KINDS)))
        return queue.pop()

    def description(self, split: str, index: int) -> dict:
        phrasing, pool = PHRASING[split], POOL[split]
        filler = Filler(self.rng, pool)
        procedure = self.rng.choice(list(NARRATIVES))
        words, *narrative_sets = NARRATIVES[procedure]
        filler._procedure_words = words
        clean = self.rng.random() < CLEAN_SHARE
        note = Note()
        openers = OPENERS[phrasing]
        if clean:
            openers = [o for o in openers if not any(s in o for s in OPENER_HAS_PHI)]
        render(note, self.rng.choice(openers), filler)
        sentences: list[tuple[str, str]] = []  # (kind, template)
        narratives = narrative_sets[SET_INDEX[phrasing]]
        for template in self.rng.sample(narratives, len(narratives)):
            sentences.append(("narrative", template))
        timeline = [t for t, has_phi in TIMELINE[phrasing] if not (clean and has_phi)]
        sentences += [("timeline", t) for t in self.rng.sample(timeline, 2)]
        if not clean:
            for _ in range(self.rng.choice([1, 2, 2, 3, 4])):
                kind = self._next_kind(split)
                phrasings = PHI_SENTENCES[kind][SET_INDEX[phrasing]]
                sentences.append(("phi", self.rng.choice(phrasings)))
        for _ in range(self.rng.choice([1, 2, 2, 3])):
            sentences.append(("negative", self.rng.choice(NEGATIVE_SENTENCES[phrasing])))
        if self.rng.random() < 0.35:
            sentences.append(("author", self.rng.choice(AUTHOR_SENTENCES[phrasing])))
        head, tail = sentences[:len(narratives)], sentences[len(narratives):]
        self.rng.shuffle(tail)
        for kind, template in head + tail:
            note.add(" ")
            if kind == "author":
                render_author(note, template)
            else:
                render(note, template, filler)
        return self._record(f"{split}-d{index:03d}", split, procedure, "description", note)

    def field_value(self, split: str, index: int) -> dict:
        filler = Filler(self.rng, POOL[split])
        filler._procedure_words = ""
        procedure = self.rng.choice(list(FIELDS))
        name = self.rng.choice(FIELDS[procedure])
        note = Note()
        if self.rng.random() < 0.5:
            templates = FIELD_VALUES_PHI_C if split == "test" else FIELD_VALUES_PHI
            template, _ = self.rng.choice(templates[name])
        else:
            template = self.rng.choice(FIELD_VALUES_CLEAN[name])
        render(note, template, filler)
        return self._record(f"{split}-f{index:03d}", split, procedure, name, note)

    @staticmethod
    def _record(record_id: str, split: str, procedure: str, context: str, note: Note) -> dict:
        return {"id": record_id, "split": split, "procedure": procedure, "context": context,
                "text": note.text.strip(), "spans": _shift(note.spans, note.text),
                "negatives": sorted(note.negatives)}


def _shift(spans: list[dict], text: str) -> list[dict]:
    offset = len(text) - len(text.lstrip())
    return [{**span, "start": span["start"] - offset, "end": span["end"] - offset}
            for span in spans]


def generate(seed: int) -> list[dict]:
    generator = NoteGenerator(seed)
    records = []
    for split, size in SPLIT_SIZES.items():
        records += [generator.description(split, i) for i in range(size)]
    for split, size in FIELD_SPLIT_SIZES.items():
        records += [generator.field_value(split, i) for i in range(size)]
    for record in records:
        for span in record["spans"]:
            assert record["text"][span["start"]:span["end"]].strip(), record["id"]
    return records


def manifest(records: list[dict], seed: int, data_file: Path) -> dict:
    def counts(split: str) -> dict[str, int]:
        return dict(sorted(Counter(s["entity_type"] for r in records if r["split"] == split
                                   for s in r["spans"] if s["category"] == "patient").items()))

    return {
        "name": "phi_case_notes", "version": VERSION, "seed": seed,
        "command": f"python -m datasets.phi_notes.generate --seed {seed} --out {data_file.parent}",
        "file": data_file.name, "sha256": hashlib.sha256(data_file.read_bytes()).hexdigest(),
        "records": {split: sum(r["split"] == split for r in records)
                    for split in ("train", "dev", "test")},
        "clean_records": {split: sum(r["split"] == split and not any(
            s["category"] == "patient" for s in r["spans"]) for r in records)
            for split in ("train", "dev", "test")},
        "patient_spans": {split: counts(split) for split in ("train", "dev", "test")},
        "negatives": {split: dict(sorted(Counter(n for r in records if r["split"] == split
                                                 for n in r["negatives"]).items()))
                      for split in ("train", "dev", "test")},
        "author_names": V.AUTHOR_NAMES, "practice_names": V.PRACTICE_NAMES,
        "license": "generated by this project (synthetic; no real person)",
        "held_out": "each split has its own sentence phrasings (train A, dev B, test C) and its "
                    "own name/place pools; no rule was tuned on the test split",
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=20261125)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "v2")
    args = parser.parse_args(argv)
    records = generate(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    data_file = args.out / "phi_case_notes.jsonl"
    with data_file.open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n")
    info = manifest(records, args.seed, data_file)
    (args.out / "manifest.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    print(f"{len(records)} records -> {data_file} ({info['records']}); sha256 {info['sha256'][:12]}")


if __name__ == "__main__":
    main()
