from __future__ import annotations

import pytest

from moderation.taxonomy import FieldSpec, default_taxonomy

ASKED_FOR = [
    "facelift", "neck_lift", "brow_lift", "blepharoplasty_upper", "rhinoplasty", "otoplasty",
    "chin_augmentation", "cheek_augmentation", "lip_augmentation", "facial_fat_grafting",
    "skin_resurfacing", "neuromodulator_injection", "dermal_filler", "breast_augmentation",
    "breast_lift", "breast_reduction", "breast_implant_removal", "breast_reconstruction",
    "gynecomastia", "abdominoplasty", "liposuction_abdomen", "liposuction_thighs", "body_lift",
    "arm_lift", "thigh_lift", "buttock_augmentation", "labiaplasty", "scar_revision",
]


def test_taxonomy_covers_the_societys_common_procedures() -> None:
    taxonomy = default_taxonomy()
    assert len(taxonomy.procedures) >= 30
    assert set(ASKED_FOR) <= set(taxonomy.codes)


def test_every_procedure_has_regions_and_typed_fields() -> None:
    taxonomy = default_taxonomy()
    for procedure in taxonomy.procedures:
        assert procedure.regions and set(procedure.regions) <= set(taxonomy.regions)
        assert procedure.field("months_since_surgery") is not None, procedure.code
        for spec in procedure.fields:
            assert spec.type in {"integer", "number", "string", "boolean", "enum"}


@pytest.mark.parametrize(("spec", "value", "problem"), [
    (FieldSpec(name="n", type="integer", min=0, max=10), 3, None),
    (FieldSpec(name="n", type="integer", min=0, max=10), 11, "must be at most 10"),
    (FieldSpec(name="n", type="integer"), 2.5, "must be a whole number"),
    (FieldSpec(name="n", type="integer"), True, "must be a whole number"),
    (FieldSpec(name="x", type="number", min=0), -1, "must be at least 0"),
    (FieldSpec(name="b", type="boolean"), "yes", "must be true or false"),
    (FieldSpec(name="e", type="enum", choices=["open", "closed"]), "open", None),
    (FieldSpec(name="e", type="enum", choices=["open", "closed"]), "other", "must be one of: open, closed"),
    (FieldSpec(name="s", type="string", max_length=3), "abcd", "must be at most 3 characters"),
    (FieldSpec(name="s", type="string"), 5, "must be text"),
])
def test_field_values_are_checked_against_their_type(spec: FieldSpec, value: object,
                                                    problem: str | None) -> None:
    assert spec.problem_with(value) == problem


def test_unknown_and_missing_required_fields_are_reported() -> None:
    procedure = default_taxonomy().get("rhinoplasty")
    assert procedure is not None
    procedure = procedure.model_copy(deep=True)
    procedure.fields.append(FieldSpec(name="graft_count", type="integer", required=True))
    problems = dict(procedure.field_problems({"implant_volume_cc": 300}))
    assert problems["implant_volume_cc"] == "is not a field of procedure rhinoplasty"
    assert problems["graft_count"] == "is required"
