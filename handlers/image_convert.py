"""Turning a decoded picture into what marketplaces accept: an 8-bit sRGB JPEG, and small thumbnails.

Platforms reject CMYK, palette, grayscale, 16-bit and transparent pictures, or show them with
wrong colours. The fix the bot hands back is the same picture as an sRGB JPEG: CMYK goes through
its embedded ICC profile when it has one (the printer's intent), transparency is flattened onto
white (what a product page background is), and high bit depths are scaled, not clipped.
"""

from __future__ import annotations

import io
import logging
from functools import lru_cache

from PIL import Image, ImageCms

logger = logging.getLogger(__name__)

WHITE = (255, 255, 255)
_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})
# Modes `Image.thumbnail` resizes with a real filter; others are converted first.
_RESIZABLE_MODES = frozenset({"RGB", "RGBA", "L", "LA", "CMYK"})

MODE_NAMES = {
    "CMYK": "CMYK",
    "P": "P palette",
    "PA": "PA palette with alpha",
    "L": "L grayscale",
    "LA": "LA grayscale with alpha",
    "La": "La grayscale with premultiplied alpha",
    "1": "1-bit black and white",
    "I": "I 32-bit integer grayscale",
    "I;16": "I;16 16-bit grayscale",
    "I;16B": "I;16B 16-bit grayscale",
    "I;16L": "I;16L 16-bit grayscale",
    "I;16N": "I;16N 16-bit grayscale",
    "F": "F 32-bit float grayscale",
    "YCbCr": "YCbCr",
    "LAB": "LAB",
    "HSV": "HSV",
    "RGBA": "RGBA with alpha",
    "RGBa": "RGBa with premultiplied alpha",
    "RGBX": "RGBX",
}


def describe_mode(mode: str) -> str:
    """A short technical name for a Pillow mode, e.g. "P palette" or "I;16 16-bit grayscale"."""
    return MODE_NAMES.get(mode, mode)


@lru_cache(maxsize=1)
def _srgb_profile() -> ImageCms.ImageCmsProfile:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


@lru_cache(maxsize=1)
def srgb_icc_bytes() -> bytes:
    """The sRGB ICC profile embedded in converted files, so viewers do not guess."""
    return bytes(_srgb_profile().tobytes())


def icc_description(icc: bytes) -> str:
    """The profile's description ("sRGB IEC61966-2.1", "U.S. Web Coated (SWOP) v2"), or "" if unreadable."""
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        return str(profile.profile.profile_description or "").strip()
    except (OSError, ValueError, TypeError):
        return ""


def is_srgb_profile(icc: bytes) -> bool:
    """True when the embedded profile is an sRGB profile (by its description)."""
    description = icc_description(icc).lower().replace(" ", "")
    return "srgb" in description


def _scale_to_8bit(image: Image.Image) -> Image.Image:
    """16/32-bit and float grayscale to L, stretching the used range so the picture stays visible."""
    extrema = image.getextrema()
    low, high = (
        (float(extrema[0]), float(extrema[1])) if isinstance(extrema[0], int | float) else (0.0, 255.0)
    )
    as_float = image.convert("F")
    if high > 255:
        factor = 255.0 / high
        as_float = as_float.point(lambda value: value * factor)
    elif low < 0:
        as_float = as_float.point(lambda value: value - low)
    return as_float.convert("L")


def _with_icc_to_srgb(image: Image.Image, icc: bytes) -> Image.Image | None:
    """Colour-manage through the embedded profile; None when the profile is unusable."""
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        if source.profile.xcolor_space.strip() != image.mode.replace("RGBA", "RGB").strip():
            # A profile for another colour space (an RGB profile on a CMYK file) cannot apply.
            return None
        converted = ImageCms.profileToProfile(
            image,
            source,
            _srgb_profile(),
            renderingIntent=ImageCms.Intent.PERCEPTUAL,
            outputMode="RGB",
        )
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError) as exc:
        logger.info("ICC conversion failed, using the standard conversion: %s", exc)
        return None
    return converted if isinstance(converted, Image.Image) else None


def flatten_on_white(image: Image.Image) -> Image.Image:
    """Composite an image with alpha onto white and return RGB."""
    rgba = image.convert("RGBA")
    background = Image.new("RGBA", rgba.size, WHITE + (255,))
    background.alpha_composite(rgba)
    return background.convert("RGB")


def to_srgb(image: Image.Image) -> Image.Image:
    """Any decoded picture as 8-bit RGB in sRGB, alpha flattened onto white.

    Args:
        image: a loaded Pillow image in any mode.

    Returns:
        A new RGB image.
    """
    icc = image.info.get("icc_profile")
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        image = _scale_to_8bit(image)
    if image.mode == "P" or "transparency" in image.info:
        image = image.convert("RGBA") if image.mode in ("P", "L", "RGB", "1") else image
    if image.mode in _ALPHA_MODES:
        return flatten_on_white(image)
    if icc and image.mode in ("CMYK", "RGB") and not is_srgb_profile(icc):
        managed = _with_icc_to_srgb(image, icc)
        if managed is not None:
            return managed
    return image if image.mode == "RGB" else image.convert("RGB")


def to_srgb_jpeg(image: Image.Image, *, quality: int = 92) -> bytes:
    """Encode the picture as an sRGB JPEG (with the sRGB profile embedded) that platforms accept."""
    rgb = to_srgb(image)
    out = io.BytesIO()
    rgb.save(out, "JPEG", quality=quality, icc_profile=srgb_icc_bytes())
    return out.getvalue()


def thumbnail_png(image: Image.Image, *, box: tuple[int, int] = (120, 120)) -> bytes:
    """A small RGB PNG of the picture (for evidence cards), alpha shown on white."""
    source = image if image.mode in _RESIZABLE_MODES else to_srgb(image)
    scale = min(box[0] / source.width, box[1] / source.height, 1.0)
    size = (max(1, round(source.width * scale)), max(1, round(source.height * scale)))
    # resize() returns a new image (no full-size copy); reducing_gap shrinks by whole factors
    # first, which is much cheaper than filtering the full picture.
    small = source.resize(size, Image.Resampling.LANCZOS, reducing_gap=2.0) if scale < 1 else source
    out = io.BytesIO()
    # Thumbnails are small and made for every checked picture: fast compression beats size here.
    to_srgb(small).save(out, "PNG", compress_level=1)
    return out.getvalue()
