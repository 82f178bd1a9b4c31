"""PDFs as they arrive: page scans (Pillow, image-only, with or without a red round seal), scans with an OCR text
layer, and born-digital text PDFs (reportlab) with an optional pasted seal picture."""

from __future__ import annotations

import math
import random
from io import BytesIO
from pathlib import Path

from PIL import Image, ImageChops, ImageDraw, ImageFilter

from ingest.samples import A4_MM, file_seed



def _page_scan(rng: random.Random, dpi: int, with_seal: bool, red_header: bool) -> Image.Image:
    """A page as a flatbed scanner gives it: off-white paper with noise, a table, text-like strokes, and
    optionally a red round seal (ring, star, text along the ring) stamped over the signature area."""
    w, h = int(A4_MM[0] / 25.4 * dpi), int(A4_MM[1] / 25.4 * dpi)
    paper = Image.merge("RGB", [Image.effect_noise((w, h), 6).point(lambda v, o=o: min(255, v + o))
                                for o in (118, 116, 110)])
    draw = ImageDraw.Draw(paper)
    ink = (35, 35, 40)
    margin = int(w * 0.1)
    if red_header:  # a 红头 title line: red, wide and flat, not a seal
        draw.rectangle([margin, int(h * 0.05), w - margin, int(h * 0.075)], fill=(200, 30, 30))
        draw.line([margin, int(h * 0.09), w - margin, int(h * 0.09)], fill=(200, 30, 30), width=max(2, dpi // 40))
    top, rows = int(h * 0.12), 12
    row_h = int(h * 0.055)
    for r in range(rows + 1):
        y = top + r * row_h
        draw.line([margin, y, w - margin, y], fill=ink, width=max(1, dpi // 60))
    for x in (margin, int(w * 0.32), w - margin):
        draw.line([x, top, x, top + rows * row_h], fill=ink, width=max(1, dpi // 60))
    glyph = max(4, dpi // 8)
    for r in range(rows):
        y = top + r * row_h + row_h // 3
        columns = ((margin + glyph, int(w * 0.32) - glyph), (int(w * 0.32) + glyph, w - margin - glyph))
        for col_start, col_end in columns:
            x = col_start
            for _ in range(rng.randint(3, 20)):
                if x + glyph > col_end:
                    break
                for _ in range(3):  # three strokes per "character"
                    x0, y0 = x + rng.randint(0, glyph // 2), y + rng.randint(0, glyph // 2)
                    draw.line([x0, y0, x0 + rng.randint(1, glyph // 2), y0 + rng.randint(1, glyph // 2)], fill=ink,
                              width=max(1, dpi // 100))
                x += glyph + glyph // 4
    if with_seal:
        _stamp_seal(paper, (int(w * 0.68), int(h * 0.82)), int(w * 0.11), rng)
    return paper.filter(ImageFilter.GaussianBlur(0.6))


def _stamp_seal(page: Image.Image, centre: tuple[int, int], radius: int, rng: random.Random) -> None:
    """A red official seal: outer ring, a five-pointed star, short strokes along the ring for the unit's name;
    drawn on its own layer with uneven ink, then multiplied onto the page like a stamp."""
    size = radius * 2 + 8
    layer = Image.new("L", (size, size), 0)
    d = ImageDraw.Draw(layer)
    c = size / 2
    ring = max(3, radius // 12)
    d.ellipse([c - radius, c - radius, c + radius, c + radius], outline=255, width=ring)
    star = [(c + radius * 0.32 * math.cos(math.radians(-90 + k * 36)) * (1 if k % 2 == 0 else 0.4),
             c + radius * 0.32 * math.sin(math.radians(-90 + k * 36)) * (1 if k % 2 == 0 else 0.4))
            for k in range(10)]
    d.polygon(star, fill=255)
    for k in range(14):
        angle = math.radians(200 + k * 10)
        r0, r1 = radius * 0.62, radius * 0.8
        d.line([c + r0 * math.cos(angle), c + r0 * math.sin(angle), c + r1 * math.cos(angle), c + r1 * math.sin(angle)],
               fill=255, width=max(2, radius // 20))
    ink = Image.effect_noise((size, size), 40).point(lambda v: 255 if v > 90 else 150)
    alpha = Image.composite(ink, Image.new("L", (size, size), 0), layer)
    red = Image.new("RGB", (size, size), (205 + rng.randint(0, 30), 25, 35))
    box = (centre[0] - size // 2, centre[1] - size // 2)
    region = page.crop((box[0], box[1], box[0] + size, box[1] + size))
    stamped = ImageChops.multiply(region, red)
    page.paste(Image.composite(stamped, region, alpha), box)


def make_scanned_pdf(path: Path, with_seal: bool = True, pages: int = 1, *, dpi: int = 100,
                     red_header: bool = False, grayscale: bool = False, seed: int | None = None) -> Path:
    """An image-only PDF as a scanner writes it (each page one JPEG image, no text, no fonts), made by Pillow."""
    rng = random.Random(file_seed(path, seed))
    images = [_page_scan(rng, dpi, with_seal and i == pages - 1, red_header) for i in range(pages)]
    if grayscale:
        images = [im.convert("L") for im in images]
    images[0].save(str(path), "PDF", resolution=float(dpi), save_all=True, append_images=images[1:], quality=80)
    return path


def make_ocr_pdf(path: Path, text: str = "2025年中国基础教育创新案例申报表 申报单位 示例小学", *, with_seal: bool = True,
                 dpi: int = 100, seed: int | None = None) -> Path:
    """A scan with an OCR layer, as scanner software's "searchable PDF" writes it: the page image, and the
    recognised text drawn invisibly (render mode 3) over it (reportlab)."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    page = _page_scan(random.Random(file_seed(path, seed)), dpi, with_seal, red_header=False)
    buf = BytesIO()
    page.save(buf, "JPEG", quality=80)
    buf.seek(0)
    c = canvas.Canvas(str(path), pagesize=A4)
    c.drawImage(ImageReader(buf), 0, 0, width=A4[0], height=A4[1])
    layer = c.beginText(72, A4[1] - 100)
    layer.setTextRenderMode(3)
    layer.setFont("STSong-Light", 12)
    layer.textLine(text)
    c.drawText(layer)
    c.showPage()
    c.save()
    return path


def make_text_pdf(path: Path, text: str = "2025年中国基础教育创新案例申报表\n申报单位：示例小学", pages: int = 1,
                  *, seal_image: bool = False) -> Path:
    """A born-digital PDF (reportlab, the built-in Chinese CID font STSong-Light): text a reader can select.
    ``seal_image`` places a red seal picture on the last page, as an electronic seal pasted in Word would be."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    c = canvas.Canvas(str(path), pagesize=A4)
    for page in range(pages):
        c.setFont("STSong-Light", 14)
        y = A4[1] - 80
        for line in text.splitlines():
            c.drawString(72, y, line)
            y -= 24
        if seal_image and page == pages - 1:
            seal = Image.new("RGB", (300, 300), (255, 255, 255))
            _stamp_seal(seal, (150, 150), 140, random.Random(3))
            buf = BytesIO()
            seal.save(buf, "PNG")
            buf.seek(0)
            c.drawImage(ImageReader(buf), A4[0] - 230, 120, width=140, height=140)
        c.showPage()
    c.save()
    return path
