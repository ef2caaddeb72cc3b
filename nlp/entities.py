"""The entity types the PHI detector reports, and the HIPAA Safe Harbor identifier each is.

Span `entity_type`s are these names. `category` tells patient PHI from the author's own
name and practice (the surgeon writing the note), which are reported apart.
"""

from __future__ import annotations

PATIENT = "patient"
AUTHOR = "author"

# entity type -> Safe Harbor identifier (45 CFR 164.514(b)(2)(i)), as a short key
SAFE_HARBOR: dict[str, str] = {
    "PERSON": "names",
    "STREET_ADDRESS": "geographic",
    "LOCATION": "geographic",
    "ZIP_CODE": "geographic",
    "DATE": "dates",
    "AGE": "ages_over_89",
    "PHONE_NUMBER": "phone_fax",
    "FAX_NUMBER": "phone_fax",
    "EMAIL_ADDRESS": "email",
    "US_SSN": "ssn",
    "MEDICAL_RECORD_NUMBER": "medical_record",
    "HEALTH_PLAN_NUMBER": "health_plan",
    "ACCOUNT_NUMBER": "account",
    "LICENSE_NUMBER": "license",
    "VEHICLE_ID": "vehicle",
    "DEVICE_ID": "device",
    "URL": "url",
    "IP_ADDRESS": "ip_address",
    "ID_NUMBER": "other_id",
}
PHI_ENTITIES: tuple[str, ...] = tuple(SAFE_HARBOR)

# What Presidio's own recognizers call the same things.
FROM_PRESIDIO: dict[str, str] = {
    "PERSON": "PERSON",
    "LOCATION": "LOCATION",
    "DATE_TIME": "DATE",
    "PHONE_NUMBER": "PHONE_NUMBER",
    "EMAIL_ADDRESS": "EMAIL_ADDRESS",
    "US_SSN": "US_SSN",
    "URL": "URL",
    "IP_ADDRESS": "IP_ADDRESS",
    "US_DRIVER_LICENSE": "LICENSE_NUMBER",
    "MEDICAL_LICENSE": "LICENSE_NUMBER",
    "CREDIT_CARD": "ACCOUNT_NUMBER",
    "US_BANK_NUMBER": "ACCOUNT_NUMBER",
    "IBAN_CODE": "ACCOUNT_NUMBER",
    "US_PASSPORT": "ID_NUMBER",
    "US_ITIN": "ID_NUMBER",
    "UK_NHS": "ID_NUMBER",
    "UUID": "ID_NUMBER",
    "MAC_ADDRESS": "DEVICE_ID",
    "CRYPTO": "ACCOUNT_NUMBER",
}


def safe_harbor_of(entity_type: str) -> str | None:
    """The Safe Harbor identifier an entity type (ours or Presidio's) falls under, if any."""
    ours = entity_type if entity_type in SAFE_HARBOR else FROM_PRESIDIO.get(entity_type)
    return SAFE_HARBOR.get(ours) if ours else None
