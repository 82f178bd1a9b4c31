"""Photo-like JPEGs of a target size (Pillow), PNGs, and JPEGs cut short as an interrupted transfer leaves them."""

from __future__ import annotations

import random
from io import BytesIO
from pathlib import Path

from PIL import Image, ImageDraw

from ingest.samples import file_seed

_NOISE = random.Random()


def _photo_like(size: tuple[int, int], detail: float, seed: int) -> Image.Image:
    """A photo-like picture: a smooth sky-to-ground gradient, shapes, and sensor noise whose strength (``detail``)
    sets how well the JPEG compresses."""
    w, h = size
    rng = random.Random(seed)
    gradient = Image.linear_gradient("L").resize((w, h))
    base = Image.merge("RGB", (gradient.point(lambda v: 90 + v // 3), gradient.point(lambda v: 140 - v // 4),
                               gradient.point(lambda v: 200 - v // 2)))
    d = ImageDraw.Draw(base)
    for _ in range(12):
        x, y = rng.randint(0, w), rng.randint(0, h)
        r = rng.randint(w // 30, w // 6)
        d.ellipse([x - r, y - r, x + r, y + r], fill=(rng.randint(40, 220), rng.randint(40, 220), rng.randint(40, 220)))
    # Sensor noise: random bytes per channel (Pillow's effect_noise, Gaussian per pixel, took 70 % of the time of a
    # sample submission). Not seeded by the name, as the noise never was: two makes of one name are not one file.
    noise = Image.merge("RGB", [Image.frombytes("L", (w, h), _NOISE.randbytes(w * h)) for _ in range(3)])
    return Image.blend(base, noise, max(0.0, min(1.0, detail)))


def _encode(image: Image.Image, quality: int) -> bytes:
    buf = BytesIO()
    image.save(buf, "JPEG", quality=quality, optimize=False)
    return buf.getvalue()


def make_jpeg(path: Path, target_bytes: int, size: tuple[int, int] = (1600, 1200), *, seed: int | None = None,
              tolerance: float = 0.03) -> int:
    """A real JPEG within ``tolerance`` of ``target_bytes``. The quality is searched first; the picture's height is
    then trimmed (JPEG size grows with the pixel count) to land inside the tolerance. Returns the file's size."""
    w, h = size
    detail = 0.25
    for _ in range(8):
        image = _photo_like((w, h), detail, file_seed(path, seed))
        if len(_encode(image, 95)) >= target_bytes:
            break
        detail = min(1.0, detail * 1.8)
        if detail >= 1.0:
            w, h = int(w * 1.4), int(h * 1.4)  # noise alone is not enough: more pixels
    lo, hi = 5, 95
    while lo < hi:  # the lowest quality whose file is at least the target
        mid = (lo + hi) // 2
        if len(_encode(image, mid)) >= target_bytes:
            hi = mid
        else:
            lo = mid + 1
    quality = lo
    data = _encode(image, quality)
    crop_h = image.height
    for _ in range(12):
        if abs(len(data) - target_bytes) <= target_bytes * tolerance:
            break
        crop_h = max(16, min(image.height, int(crop_h * target_bytes / len(data))))
        data = _encode(image.crop((0, 0, image.width, crop_h)), quality)
    path.write_bytes(data)
    return len(data)


def make_png(path: Path, size: tuple[int, int] = (1600, 1200), *, seed: int | None = None) -> int:
    """A real PNG (for "a PNG renamed .jpg": pass a path ending in .jpg). Returns its size."""
    _photo_like(size, 0.5, file_seed(path, seed)).save(str(path), "PNG")
    return path.stat().st_size


def make_truncated_jpeg(path: Path, target_bytes: int, keep: float = 0.7, **kwargs: object) -> int:
    """A real JPEG cut short, as an interrupted transfer leaves it (its header is intact)."""
    make_jpeg(path, target_bytes, **kwargs)  # type: ignore[arg-type]
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path.stat().st_size
