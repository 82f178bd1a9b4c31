"""The red round seal (公章) on a scanned page: a confidence score from the shape of the red ink."""

from __future__ import annotations

from PIL import Image, ImageChops, ImageFilter

SEAL_WORK_PX = 700  # long side of the page image the seal analysis looks at


def _red_mask(im: Image.Image) -> Image.Image:
    """255 where a pixel is seal red: hue ≤ 10 or ≥ 245 (of 255), saturation ≥ 100, value ≥ 80."""
    h, s, v = im.convert("HSV").split()
    hue = h.point(lambda x: 255 if x <= 10 or x >= 245 else 0)
    sat = s.point(lambda x: 255 if x >= 100 else 0)
    val = v.point(lambda x: 255 if x >= 80 else 0)
    return ImageChops.multiply(ImageChops.multiply(hue, sat), val)


def seal_score(image: Image.Image) -> float:
    """Confidence (0..1) that ``image`` carries a red round seal: the red pixels are grouped on a coarse grid, and a
    group scores by being about round (square bounding box, red in all four quadrants) and seal-sized (7–40 % of
    the page width). A red letterhead line or red text is wide and flat and scores near 0."""
    im = image.convert("RGB")
    im.thumbnail((SEAL_WORK_PX, SEAL_WORK_PX))
    mask = _red_mask(im)
    if mask.getbbox() is None:
        return 0.0
    cell = 6
    gw, gh = max(1, im.width // cell), max(1, im.height // cell)
    grid = mask.resize((gw, gh), Image.Resampling.BOX).point(lambda x: 255 if x > 20 else 0)
    joined = grid.filter(ImageFilter.MaxFilter(3))  # bridge the gaps in uneven stamp ink
    on = joined.tobytes()
    red_cells = grid.tobytes()
    seen = bytearray(len(on))
    best = 0.0
    for start in range(len(on)):
        if not on[start] or seen[start]:
            continue
        stack, component = [start], []
        seen[start] = 1
        while stack:
            i = stack.pop()
            component.append(i)
            x, y = i % gw, i // gw
            for nx in (x - 1, x, x + 1):
                for ny in (y - 1, y, y + 1):
                    j = ny * gw + nx
                    if 0 <= nx < gw and 0 <= ny < gh and on[j] and not seen[j]:
                        seen[j] = 1
                        stack.append(j)
        best = max(best, _component_score(component, red_cells, gw, im.width, im.height))
    return best


def _component_score(cells: list[int], red: bytes, gw: int, width: int, height: int) -> float:
    """How seal-like one connected group of grid cells is: roundness × size × red in every quadrant × ink fill."""
    xs = [i % gw for i in cells]
    ys = [i // gw for i in cells]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    w, h = x1 - x0 + 1, y1 - y0 + 1
    if w < 3 or h < 3:
        return 0.0
    aspect = min(w, h) / max(w, h)
    aspect_score = min(1.0, max(0.0, (aspect - 0.5) / 0.3))
    size = max(w, h) * 6 / min(width, height)
    if size < 0.07:
        size_score = (size / 0.07) ** 2
    elif size > 0.4:
        size_score = max(0.0, 1 - (size - 0.4) / 0.2)
    else:
        size_score = 1.0
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    quadrants = {(i % gw >= cx, i // gw >= cy) for i in cells if red[i]}
    red_count = sum(1 for i in cells if red[i])
    fill = red_count / (w * h)
    fill_score = 1.0 if 0.12 <= fill <= 0.9 else 0.5
    return aspect_score * size_score * (len(quadrants) / 4) * fill_score
