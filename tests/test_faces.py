"""The shared face detector (MTCNN, weights from facenet-pytorch's wheel) on real photos."""

from __future__ import annotations

import numpy as np
import pytest

from models.faces import Face, FaceDetector, faces_of, shared_face_detector
from moderation.checks.base import CheckContext
from moderation.intake import PreparedPhoto, decode_for_checks, inspect_upload
from moderation.settings import IntakeSettings, Settings
from moderation.taxonomy import default_taxonomy
from tests import real_photos


@pytest.fixture(scope="module")
def detector() -> FaceDetector:
    return FaceDetector()


def prepared(image: np.ndarray, working_max_side: int = 1600) -> PreparedPhoto:
    photo = inspect_upload("set1/before", "b1", None, real_photos.jpeg_bytes(image),
                           IntakeSettings())
    decode_for_checks(photo, working_max_side)
    return photo


def inside(face: Face, point: tuple[float, float]) -> bool:
    x, y = point
    return face.x <= x <= face.x + face.w and face.y <= y <= face.y + face.h


@pytest.mark.parametrize("name", ["astronaut", "grace_hopper"])
def test_a_portrait_has_one_frontal_face_with_its_landmarks_in_place(detector: FaceDetector,
                                                                    name: str) -> None:
    image = (real_photos.grace_hopper() if name == "grace_hopper"
             else real_photos.skimage_photo(name))
    faces = detector.detect(image)
    assert len(faces) == 1
    face = faces[0]
    assert face.score > 0.95 and not face.partial and face.pose == "frontal"
    assert all(inside(face, point) for point in face.landmarks)
    left_eye, right_eye, nose, mouth_left, mouth_right = face.landmarks
    assert left_eye[0] < right_eye[0] and mouth_left[0] < mouth_right[0]
    assert max(left_eye[1], right_eye[1]) < nose[1] < min(mouth_left[1], mouth_right[1])
    assert 0.2 < face.eye_distance / face.w < 0.7


@pytest.mark.parametrize("name", ["coffee", "chelsea", "rocket"])
def test_no_face_on_scenes_without_people(detector: FaceDetector, name: str) -> None:
    assert detector.detect(real_photos.skimage_photo(name)) == []


def test_mirroring_a_photo_mirrors_the_turn_of_the_head(detector: FaceDetector) -> None:
    image = real_photos.skimage_photo("camera")
    face = detector.detect(image)[0]
    mirrored = detector.detect(np.ascontiguousarray(image[:, ::-1]))[0]
    assert abs(face.yaw_ratio) > 0.2
    assert np.sign(face.yaw_ratio) == -np.sign(mirrored.yaw_ratio)
    assert mirrored.x == pytest.approx(image.shape[1] - face.x - face.w, abs=6)


def test_a_close_up_of_the_eyes_is_a_partial_face(detector: FaceDetector) -> None:
    eyes = real_photos.upscaled(real_photos.crop(real_photos.grace_hopper(), 190, 165, 150, 60))
    faces = detector.detect(eyes)
    assert faces and faces[0].partial
    left_eye, right_eye = faces[0].landmarks[:2]
    assert 0 <= left_eye[1] <= eyes.shape[0] and 0 <= right_eye[1] <= eyes.shape[0]
    assert faces[0].y + faces[0].h > eyes.shape[0]  # the face goes on below the frame


def test_faces_are_in_working_pixels_and_detected_once_per_photo(detector: FaceDetector) -> None:
    big = np.asarray(np.kron(real_photos.skimage_photo("astronaut"), np.ones((4, 4, 1),
                                                                               np.uint8)))
    photo = prepared(big, working_max_side=1024)  # 2048 px decoded at 1024: scale 0.5
    assert photo.scale == pytest.approx(0.5)
    calls = []

    class Counting(FaceDetector):
        def detect(self, rgb: np.ndarray) -> list[Face]:
            calls.append(rgb.shape)
            return detector.detect(rgb)

    counting = Counting.__new__(Counting)
    first, again = faces_of(photo, counting), faces_of(photo, counting)
    assert first is again and len(calls) == 1
    face = first[0]
    original = photo.to_original(*face.box)
    assert original.x == pytest.approx(4 * 180, abs=30) and original.w == pytest.approx(4 * 89, abs=30)


def test_the_service_builds_one_detector(tmp_path) -> None:
    context = CheckContext(settings=Settings(data_dir=tmp_path), taxonomy=default_taxonomy())
    built = []
    first = shared_face_detector(context, lambda: built.append(1) or "detector")
    assert shared_face_detector(context, lambda: built.append(1) or "other") == first
    assert built == [1]
