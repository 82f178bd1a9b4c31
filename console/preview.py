"""Thumbnails the console draws itself: a stranger's image is decoded by Pillow and re-encoded as a small JPEG.

The browser never receives the uploaded bytes as an image (an "image" may be SVG, HTML or a polyglot): only
pixels we produced. Vector and markup formats (SVG, HTML, XML) are not raster images and are refused.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

RASTER_FORMATS = ["JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF"]
THUMB_PIXELS = (320, 240)
# Well below Pillow's own bomb limit: a thumbnail is not worth decoding a 100-megapixel image in the console.
MAX_SOURCE_PIXELS = 60_000_000


class PreviewError(Exception):
    """No preview for this file (not a raster image, damaged, or too large); worded for staff."""


def preview_jpeg(path: Path) -> bytes:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path, formats=RASTER_FORMATS) as im:
                if im.width * im.height > MAX_SOURCE_PIXELS:
                    raise PreviewError("图片像素过多，不生成预览")
                im.draft("RGB", (THUMB_PIXELS[0] * 2, THUMB_PIXELS[1] * 2))  # JPEG: decode at a reduced scale
                im.seek(0)
                thumb = ImageOps.exif_transpose(im.convert("RGB"))
                thumb.thumbnail(THUMB_PIXELS)
                out = io.BytesIO()
                thumb.save(out, "JPEG", quality=80)
                return out.getvalue()
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise PreviewError("不是可预览的图片") from exc
    except (OSError, ValueError, EOFError, SyntaxError) as exc:  # Pillow's ways of saying "damaged"
        raise PreviewError("图片已损坏，无法预览") from exc
