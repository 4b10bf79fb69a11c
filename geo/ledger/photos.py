"""Uploaded photos re-encoded with Pillow, so what is stored and served is a plain image.

Only JPEG, PNG and WebP are decoded (an SVG, HTML or anything else named .jpg is refused);
the pixel count is checked from the header before decoding (decompression bombs); the image is
turned upright by its EXIF orientation, then its pixels are copied into a fresh image and saved
as JPEG (PNG when it has transparency) — EXIF/GPS, ICC, comments and any bytes appended to the
file (a JPEG/HTML polyglot) do not survive.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from geo.model.errors import LimitExceeded, UnsafeFile

DECODERS = ["JPEG", "PNG", "WEBP"]  # a phone's multi-picture JPEG (MPO) opens as JPEG
MEDIA = {"JPEG": "image/jpeg", "PNG": "image/png"}


@dataclass(frozen=True)
class CleanPhoto:
    """A re-encoded photo: its bytes, media type and file extension."""

    data: bytes
    media_type: str
    extension: str


def reencode(data: bytes, max_pixels: int, quality: int = 88) -> CleanPhoto:
    """Decode a photo and save it again without metadata; UnsafeFile when it is not a JPEG,
    PNG or WebP image, LimitExceeded when it has more than max_pixels pixels."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img: Image.Image = Image.open(io.BytesIO(data), formats=DECODERS)
            width, height = img.size
            if width * height > max_pixels:
                raise LimitExceeded(f"照片为 {width}×{height} = {width * height:,} 像素，"
                                    f"超过上限 {max_pixels:,}（CCMAP_MAX_PHOTO_PIXELS）",
                                    limit=max_pixels)
            img.load()
            img = ImageOps.exif_transpose(img)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise LimitExceeded(f"照片超过 {max_pixels:,} 像素（CCMAP_MAX_PHOTO_PIXELS）",
                            limit=max_pixels) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise UnsafeFile("照片格式无效：须为可解码的 JPEG、PNG 或 WebP 图像") from None
    alpha = img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info)
    mode, fmt = ("RGBA", "PNG") if alpha else ("RGB", "JPEG")
    pixels = img.convert(mode)
    clean = Image.frombytes(mode, pixels.size, pixels.tobytes())  # no info, EXIF or ICC
    out = io.BytesIO()
    if fmt == "JPEG":
        clean.save(out, "JPEG", quality=quality, optimize=True)
    else:
        clean.save(out, "PNG", optimize=True)
    return CleanPhoto(out.getvalue(), MEDIA[fmt], "jpg" if fmt == "JPEG" else "png")
