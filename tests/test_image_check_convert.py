"""Converting pictures platforms reject into sRGB JPEGs, fetched from the real image host."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from PIL import Image, ImageCms

from handlers.image_check import ImageChecker, ImageVerdict
from handlers.image_convert import icc_description
from tests.image_server import ImageServer


@pytest.fixture
def checker(image_host: ImageServer) -> Iterator[ImageChecker]:
    with ImageChecker(image_host.policy()) as checker:
        yield checker


def _convert(checker: ImageChecker, host: ImageServer, path: str) -> Image.Image:
    result, data = checker.convert_to_rgb(host.url(path))
    assert data is not None, result.detail
    image = Image.open(io.BytesIO(data))
    image.load()
    assert (image.format, image.mode) == ("JPEG", "RGB")
    assert (image.width, image.height) == (result.width, result.height)
    return image


@pytest.mark.parametrize(
    "path",
    [
        "/cmyk.tif",
        "/palette.png",
        "/palette.gif",
        "/palette-trns.png",
        "/gray.jpg",
        "/gray-trns.png",
        "/rgb-trns.png",
        "/16bit.tif",
        "/rgb.png",
        "/rgb.jpg",
    ],
)
def test_every_readable_picture_becomes_an_srgb_jpeg(
    checker: ImageChecker, image_host: ImageServer, path: str
) -> None:
    image = _convert(checker, image_host, path)
    assert "sRGB" in icc_description(image.info["icc_profile"])


def test_cmyk_goes_through_its_embedded_profile(checker: ImageChecker, image_host: ImageServer) -> None:
    # The test press profile prints pure cyan as blue; the standard conversion gives cyan.
    managed = _convert(checker, image_host, "/cmyk-icc.jpg").getpixel((100, 450))
    standard = _convert(checker, image_host, "/cmyk.jpg").getpixel((100, 450))
    assert isinstance(managed, tuple) and isinstance(standard, tuple)
    red, green, blue = managed[:3]
    assert blue > 200 and red < 60 and green < 60, managed
    red, green, blue = standard[:3]
    assert red < 60 and green > 200 and blue > 200, standard
    white = _convert(checker, image_host, "/cmyk-icc.jpg").getpixel((1000, 450))
    assert isinstance(white, tuple) and min(white) > 245


@pytest.mark.parametrize("path", ["/rgba.png", "/la.png"])
def test_transparency_is_flattened_on_white(
    checker: ImageChecker, image_host: ImageServer, path: str
) -> None:
    image = _convert(checker, image_host, path)
    transparent = image.getpixel((100, 500))
    opaque = image.getpixel((900, 500))
    assert isinstance(transparent, tuple) and min(transparent) > 245, transparent
    assert isinstance(opaque, tuple) and min(opaque) < 60, opaque  # blue (or its gray) stays, not white


def test_16_bit_is_scaled_not_clipped(checker: ImageChecker, image_host: ImageServer) -> None:
    image = _convert(checker, image_host, "/16bit.png").convert("L")
    top, bottom = image.getpixel((500, 10)), image.getpixel((500, 1013))
    assert isinstance(top, int) and isinstance(bottom, int)
    assert top < 30 and bottom > 220  # the gradient survives: dark at the top, bright at the bottom


@pytest.mark.parametrize(
    ("path", "verdict"),
    [
        ("/truncated.jpg", ImageVerdict.DAMAGED),
        ("/page.html", ImageVerdict.NOT_AN_IMAGE),
        ("/bomb.png", ImageVerdict.TOO_LARGE),
        ("/gone.jpg", ImageVerdict.UNREACHABLE),
    ],
)
def test_unreadable_pictures_give_no_file(
    checker: ImageChecker, image_host: ImageServer, path: str, verdict: ImageVerdict
) -> None:
    result, data = checker.convert_to_rgb(image_host.url(path))
    assert result.verdict is verdict
    assert data is None


def test_thumbnails_show_transparency_on_white(checker: ImageChecker, image_host: ImageServer) -> None:
    result = checker.check(image_host.url("/rgba.png"))
    thumbnail = Image.open(io.BytesIO(result.thumbnail_png or b""))
    assert thumbnail.size == (120, 120)
    left = thumbnail.getpixel((10, 60))
    right = thumbnail.getpixel((110, 60))
    assert left == (255, 255, 255)
    assert isinstance(right, tuple) and right[2] > 200 and right[0] < 40


def test_the_srgb_profile_is_recognised() -> None:
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    assert "sRGB" in icc_description(srgb)
    assert icc_description(b"not a profile") == ""
