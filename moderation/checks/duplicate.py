"""`duplicate`: a photo reused from another case, or a set whose before and after are one photo.

Every photo's perceptual fingerprint (`moderation.duplicates`) is compared with the other
photos of the submission and, in the service, with every stored photo through the in-memory
index the service loads at start-up (`resources["photo_index"]`). Earlier versions of the same
case are not "another case". Without an index (the CLI scores without a database) only the
photos of the submission are compared, and each finding says so.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from moderation.checks.base import BOTH_DESTINATIONS, Check, Observation
from moderation.duplicates import (
    DuplicateFinder,
    Fingerprint,
    Match,
    PhotoHashIndex,
    code_distance,
    confirm,
    photo_fingerprint,
)
from moderation.intake import PreparedPhoto, PreparedSubmission
from moderation.schemas import Evidence

INDEX_RESOURCE = "photo_index"


class DuplicateOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_code_distance: int = Field(16, ge=0, le=64, description="Hamming bits for a candidate")
    min_similarity: float = Field(0.915, ge=0, le=1, description="aligned thumbnail correlation")
    candidates: int = Field(8, ge=1, description="nearest candidates confirmed per photo")
    same_pair_score: float = Field(0.97, ge=0, le=1)
    same_submission_score: float = Field(0.9, ge=0, le=1)
    other_case_score: float = Field(0.92, ge=0, le=1)
    same_member_score: float = Field(0.85, ge=0, le=1)


class DuplicateCheck(Check):
    name = "duplicate"
    version = "1.0"
    destinations = BOTH_DESTINATIONS
    Options = DuplicateOptions

    @property
    def index(self) -> PhotoHashIndex | None:
        return self.context.resources.get(INDEX_RESOURCE)

    def run(self, submission: PreparedSubmission) -> list[Observation]:
        prints = {photo.id: photo_fingerprint(photo) for photo in submission.photos}
        index = self.index
        if index is not None:
            index.sync()  # saves by other workers since the last request
        observations = []
        for position, photo in enumerate(submission.photos):
            print_ = prints[photo.id]
            if print_ is None:
                observations.append(Observation(
                    photo.target, 0.0, f"{photo.target} did not decode; not compared"))
                continue
            earlier = [(other, prints[other.id]) for other in submission.photos[:position]
                       if prints[other.id] is not None]
            observations.append(self._observe(submission, photo, print_, earlier, index))
        return observations

    def _observe(self, submission: PreparedSubmission, photo: PreparedPhoto, print_: Fingerprint,
                 earlier: list[tuple[PreparedPhoto, Fingerprint | None]],
                 index: PhotoHashIndex | None) -> Observation:
        options = self.options
        scope = (f"compared with this submission and {len(index):,} stored photos"
                 if index is not None else
                 "compared only with the other photos of this submission (no photo index: "
                 "scored without a database)")
        matches = []
        score, reason = 0.0, f"{photo.target} is not a reused photo ({scope})"
        for other, other_print in earlier:
            assert other_print is not None
            if code_distance(print_, other_print) > options.max_code_distance:
                continue
            similar = confirm(print_, other_print, options.min_similarity)
            if similar is None:
                continue
            same_set = other.id.split("/")[0] == photo.id.split("/")[0]
            matches.append({"case_id": submission.submission.case_id, "submission_id": None,
                            "photo_id": other.id, "same_member": True, "same_case": True,
                            "similarity": round(similar, 4)})
            if same_set and options.same_pair_score > score:
                score = options.same_pair_score
                reason = f"{photo.id.split('/')[0]}: the before and after are the same photo"
            elif options.same_submission_score > score:
                score = options.same_submission_score
                reason = f"{photo.target} is the same photo as photo:{other.id}"
        if index is not None:
            for match in self._stored_matches(index, submission, print_):
                same_member = match.photo.member_id == submission.submission.member_id
                matches.append({"case_id": match.photo.case_id,
                                "submission_id": match.photo.submission_id,
                                "photo_id": match.photo.photo_id, "same_member": same_member,
                                "same_case": False, "similarity": round(match.similarity, 4),
                                "hash_distance": match.distance})
                found = options.same_member_score if same_member else options.other_case_score
                if found > score:
                    score = found
                    whose = "the same member's" if same_member else "another member's"
                    reason = f"{photo.target} was already used in {whose} case {match.photo.case_id}"
        values: dict[str, object] = {"compared_with_index": index is not None,
                                     "matches": len(matches)}
        if matches:
            values["best_similarity"] = max(m["similarity"] for m in matches)
        return Observation(photo.target, score, reason, Evidence(values=values, matches=matches))

    def _stored_matches(self, index: PhotoHashIndex, submission: PreparedSubmission,
                        print_: Fingerprint) -> list[Match]:
        finder = DuplicateFinder(index, self.options.max_code_distance,
                                 self.options.min_similarity, self.options.candidates)
        case_id = submission.submission.case_id
        return finder.matches(print_, exclude=lambda stored: stored.case_id == case_id)
