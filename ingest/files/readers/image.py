"""Photos and other images: format, pixel size, EXIF orientation, and a decode that reads every byte.

Memory stays bounded: Pillow's decompression-bomb limit stays on and JPEGs are decoded at reduced scale.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, UnidentifiedImageError

from checks.facts import ImageFacts
from ingest.files.sniff import format_of

IMAGE_FORMATS = ["JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF", "MPO"]


def read_image(path: Path, kind: str | None = None) -> ImageFacts:
    """Format by magic bytes, pixel size and EXIF orientation from the headers, and a decode that reads every
    byte of the entropy-coded data (a truncated JPEG passes ``verify()`` but fails ``load()``). JPEGs decode at
    1/8 scale: libjpeg then skips the inverse DCT and the full-size pixel buffer, but still reads every scan
    of a progressive file to its end, so truncation anywhere is still found."""
    if kind is None:
        with path.open("rb") as fh:
            kind = format_of(fh.read(64))
    if kind == "HEIC":
        return ImageFacts(format="HEIC", width=None, height=None, decoded_ok=False,
                          error="苹果手机HEIC格式，无法按常见图片格式打开")
    if kind not in IMAGE_FORMATS:
        return ImageFacts(format=kind, width=None, height=None, decoded_ok=False, error="不是图片文件")
    try:
        with Image.open(path, formats=IMAGE_FORMATS) as im:
            width, height = im.size
            orientation = _orientation(im)
            if im.format in ("JPEG", "MPO"):
                im.draft("RGB", (max(1, width // 8), max(1, height // 8)))  # 1/8 scale, every byte still decoded
            im.load()
            return ImageFacts(format=kind, width=width, height=height, decoded_ok=True, orientation=orientation)
    except Image.DecompressionBombError:
        return ImageFacts(format=kind, width=None, height=None, decoded_ok=False,
                          error="图片像素数超出安全上限，拒绝解码")
    except (OSError, SyntaxError, ValueError, UnidentifiedImageError) as exc:
        detail = "文件被截断，缺少后半部分" if "truncated" in str(exc).lower() else "图片数据损坏，无法解码"
        return ImageFacts(format=kind, width=None, height=None, decoded_ok=False, error=detail)


def _orientation(im: Image.Image) -> int:
    """EXIF Orientation (tag 0x0112), 1 when absent or out of range (a stranger's EXIF may say anything)."""
    try:
        value = im.getexif().get(0x0112, 1)
    except (OSError, SyntaxError, ValueError):
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


