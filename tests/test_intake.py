"""Image intake: recognising formats by content, the pixel guard, orientation, decoding once
at the working resolution, reading identifying metadata and stripping it losslessly."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from moderation.errors import InvalidSubmission, PayloadTooLarge, UnsupportedMediaType
from moderation.image_formats import ImageFormat, require_supported, sniff
from moderation.intake import decode_for_checks, inspect_upload, make_stored_copy
from moderation.metadata import identifying_metadata
from moderation.settings import IntakeSettings
from tests import photos

LIMITS = IntakeSettings()


def inspect(data: bytes, limits: IntakeSettings = LIMITS):
    return inspect_upload("set1/before", "b1", None, data, limits)


def prepared(data: bytes, working_max_side: int = 1600):
    photo = inspect(data)
    decode_for_checks(photo, working_max_side)
    make_stored_copy(photo)
    return photo


@pytest.mark.parametrize("kind", sorted(photos.OTHER_FORMATS))
def test_other_formats_are_refused_by_content(kind: str) -> None:
    with pytest.raises(UnsupportedMediaType, match=f"'b1' is a {kind} file; photos must be JPEG or PNG"):
        require_supported("b1", photos.OTHER_FORMATS[kind])


def test_format_comes_from_content_not_name() -> None:
    assert sniff(photos.png()) == "PNG"
    assert require_supported("photo.jpg", photos.png()) is ImageFormat.PNG
    assert require_supported("x", photos.jpeg()) is ImageFormat.JPEG


def test_empty_and_unknown_files_are_refused() -> None:
    with pytest.raises(InvalidSubmission, match="'b1' is empty"):
        require_supported("b1", b"")
    with pytest.raises(UnsupportedMediaType, match="not an image format"):
        require_supported("b1", b"hello world, not an image")


@pytest.mark.parametrize("bomb", [photos.png_header_only(100_000, 100_000),
                                  photos.jpeg_declaring(60_000, 60_000)])
def test_pixel_guard_refuses_decompression_bombs_from_the_header(bomb: bytes) -> None:
    assert len(bomb) < 10_000
    with pytest.raises(PayloadTooLarge, match="decompression bombs"):
        inspect(bomb)


def test_pixel_limit_is_a_setting() -> None:
    data = photos.jpeg(photos.scene(400, 300))
    inspect(data, IntakeSettings(max_photo_pixels=120_000))
    with pytest.raises(PayloadTooLarge, match="120,000 pixels; the limit is 100,000"):
        inspect(data, IntakeSettings(max_photo_pixels=100_000))


def test_exif_orientation_is_applied() -> None:
    image = photos.scene(400, 200)
    photo = prepared(photos.jpeg(image, exif=photos.exif_with(orientation=6)))
    assert (photo.width, photo.height) == (200, 400)
    assert photo.image is not None and photo.image.shape == (400, 200, 3)
    # Orientation 6 means "rotate 90 degrees clockwise to display".
    expected = np.asarray(image.transpose(Image.Transpose.ROTATE_270))
    assert np.abs(photo.image.astype(int) - expected.astype(int)).mean() < 6


def test_large_jpeg_is_decoded_once_at_reduced_scale() -> None:
    photo = prepared(photos.jpeg(photos.scene(4000, 3000)))
    assert photo.decoded_size == (2000, 1500)  # DCT scaling in the decoder, not a full decode
    assert photo.image is not None and photo.image.shape == (1200, 1600, 3)
    assert photo.scale == pytest.approx(0.4)
    box = photo.to_original(100, 50, 40, 20)
    assert (box.x, box.y, box.w, box.h) == (250, 125, 100, 50)


def test_detail_image_is_the_same_upright_frame_decoded_larger() -> None:
    image = photos.scene(4000, 3000)
    photo = prepared(photos.jpeg(image, exif=photos.exif_with(orientation=6)), 1000)
    assert photo.decoded_size == (1000, 750)  # 1/4 DCT scale: no resize after
    assert photo.image is not None and photo.image.shape == (1000, 750, 3)
    detail = photo.detail_image(2000)
    assert detail is not None and detail.shape == (2000, 1500, 3)  # 1/2 DCT scale, upright
    # The same frame: shrunk back to the working size it matches the working image.
    small = np.asarray(Image.fromarray(detail).resize((750, 1000), Image.Resampling.BOX))
    assert np.abs(small.astype(int) - photo.image.astype(int)).mean() < 3
    # A box measured on the detail image maps to the original through the working scale.
    assert photo.to_original(100, 200, 40, 20).x == 400


def test_no_detail_image_when_it_would_be_no_larger() -> None:
    photo = prepared(photos.jpeg(photos.scene(900, 600)), 1000)
    assert photo.detail_image(2000) is None  # the working image is the whole photo
    broken = prepared(photos.truncated(photos.jpeg()), 1000)
    assert broken.detail_image(2000) is None
    photo.data = b""  # a photo built in memory, with no upload behind it
    assert photo.detail_image(2000) is None


def test_png_with_alpha_is_flattened_to_rgb() -> None:
    rgba = Image.new("RGBA", (320, 320), (255, 0, 0, 0))
    photo = prepared(photos.png(rgba))
    assert photo.image is not None and photo.image.shape == (320, 320, 3)
    assert photo.image[0, 0].tolist() == [255, 255, 255]


def test_truncated_jpeg_is_recorded_not_raised() -> None:
    photo = prepared(photos.truncated(photos.jpeg()))
    assert photo.problem is not None and photo.problem.code == "truncated"
    assert photo.image is None


def test_png_with_a_bad_crc_is_recorded_as_corrupted() -> None:
    photo = prepared(photos.png_with_bad_crc(photos.png()))
    assert photo.problem is not None and photo.problem.code in {"corrupted", "truncated"}


def test_identifying_metadata_is_found_by_key() -> None:
    exif = photos.exif_with(artist="Jane Roe", gps=True, serial="SN-0042", description="  ")
    image = Image.open(io.BytesIO(photos.jpeg(exif=exif, comment=b"pt J.R. DOB 1/2/80")))
    found = {item.key: item for item in identifying_metadata(image)}
    assert set(found) == {"EXIF Artist", "EXIF GPSInfo", "EXIF BodySerialNumber", "JPEG comment"}
    assert found["EXIF GPSInfo"].kind == "gps" and found["EXIF GPSInfo"].value is None
    assert found["EXIF Artist"].kind == "name" and found["EXIF Artist"].value == "Jane Roe"
    # a blank ImageDescription, as many cameras write, is not reported


def test_xmp_and_png_text_are_found() -> None:
    xmp = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><rdf:Description>'
           b"<dc:creator><rdf:Seq><rdf:li>Jane Roe</rdf:li></rdf:Seq></dc:creator>"
           b"</rdf:Description></rdf:RDF></x:xmpmeta>")
    image = Image.open(io.BytesIO(photos.jpeg(xmp=xmp)))
    assert [(i.key, i.value) for i in identifying_metadata(image)] == [("XMP dc:creator", "Jane Roe")]
    image = Image.open(io.BytesIO(photos.png(text={"Author": "Jane Roe", "Software": "GIMP"})))
    assert [(i.key, i.kind) for i in identifying_metadata(image)] == [("PNG text Author", "name")]


def test_stored_jpeg_keeps_pixels_and_orientation_but_no_metadata() -> None:
    exif = photos.exif_with(orientation=6, artist="Jane Roe", gps=True, serial="SN-0042")
    original = photos.jpeg(exif=exif, comment=b"patient J.R.")
    photo = prepared(original + b"PK\x03\x04 trailing polyglot payload")
    assert photo.stored_bytes is not None
    stored = Image.open(io.BytesIO(photo.stored_bytes))
    assert identifying_metadata(stored) == []
    assert dict(stored.getexif()) == {0x0112: 6}
    assert b"Jane Roe" not in photo.stored_bytes and b"PK\x03\x04" not in photo.stored_bytes
    stored.load()
    assert np.array_equal(np.asarray(stored), np.asarray(Image.open(io.BytesIO(original))))


def test_stored_png_drops_text_chunks_and_keeps_pixels() -> None:
    original = photos.png(text={"Author": "Jane Roe", "Comment": "MRN 12345"})
    photo = prepared(original)
    assert photo.stored_bytes is not None and b"Jane Roe" not in photo.stored_bytes
    stored = Image.open(io.BytesIO(photo.stored_bytes))
    assert identifying_metadata(stored) == []
    assert np.array_equal(np.asarray(stored), np.asarray(Image.open(io.BytesIO(original))))


def test_progressive_jpeg_survives_stripping() -> None:
    original = photos.jpeg(progressive=True, exif=photos.exif_with(artist="Jane Roe"))
    photo = prepared(original)
    assert photo.stored_bytes is not None
    stored = Image.open(io.BytesIO(photo.stored_bytes))
    assert np.array_equal(np.asarray(stored), np.asarray(Image.open(io.BytesIO(original))))


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_matches_pillows_transpose(orientation: int) -> None:
    from PIL import ImageOps

    image = photos.scene(120, 80, seed=orientation)
    data = photos.jpeg(image, exif=photos.exif_with(orientation=orientation), quality=100)
    photo = prepared(data)
    expected = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))))
    assert photo.image is not None and photo.image.shape == expected.shape
    assert np.abs(photo.image.astype(int) - expected.astype(int)).max() <= 1


def test_the_stored_hash_is_the_stored_copys_whether_or_not_anything_was_stripped() -> None:
    """A photo with nothing to strip is stored as uploaded and reuses the upload's hash; one
    with metadata gets its own; a photo restored from its stored copy keeps both apart."""
    import hashlib

    from moderation.intake import restore_stored

    clean = photos.jpeg()
    plain = prepared(clean)
    assert plain.stored_bytes == clean
    assert plain.stored_sha256 == plain.sha256 == hashlib.sha256(clean).hexdigest()
    tagged = prepared(photos.jpeg(exif=photos.exif_with(artist="Jane Roe")))
    assert tagged.stored_bytes is not None and tagged.stored_bytes != tagged.data
    assert tagged.stored_sha256 == hashlib.sha256(tagged.stored_bytes).hexdigest() != tagged.sha256
    restored = restore_stored("set1/before", "b1", None, tagged.stored_bytes,
                              upload_sha256=tagged.sha256, upload_size=tagged.upload_size,
                              metadata=tagged.metadata, limits=IntakeSettings())
    make_stored_copy(restored)
    assert (restored.sha256, restored.stored_sha256) == (tagged.sha256, tagged.stored_sha256)
