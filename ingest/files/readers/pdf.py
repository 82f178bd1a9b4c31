"""PDF files: scanned or born-digital pages, the invisible text of an OCR layer, the red seal on page images,
active content (JavaScript) and an open password."""

from __future__ import annotations

import logging
from io import BytesIO
from pathlib import Path
from typing import Any, Iterator

from PIL import Image
from pypdf import PdfReader
from pypdf.errors import PdfReadError
from pypdf.generic import ContentStream, DictionaryObject, IndirectObject, StreamObject

from checks.facts import PdfFacts
from ingest.files.readers import MAX_TEXT_CHARS, Unreadable
from ingest.files.readers.seal import SEAL_WORK_PX, seal_score

log = logging.getLogger(__name__)

MAX_SEAL_PAGES = 20  # a form is a few pages; a 300-page PDF must not cost 300 page decodes

_TEXT_SHOWING = {b"Tj", b"TJ", b"'", b'"'}


def _resolve(obj: Any) -> Any:
    """The object an indirect reference points to (anything else as it is)."""
    return obj.get_object() if isinstance(obj, IndirectObject) else obj


def _text_ops(page: Any, reader: PdfReader) -> tuple[int, int]:
    """(visible, invisible) text-showing operators; render mode 3 (Tr 3) is the invisible text OCR adds."""
    contents = page.get_contents()
    if contents is None:
        return 0, 0
    visible = invisible = 0
    mode = 0
    for operands, operator in ContentStream(contents, reader).operations:
        if operator == b"Tr" and operands:
            mode = int(operands[0])
        elif operator in _TEXT_SHOWING:
            if mode == 3:
                invisible += 1
            else:
                visible += 1
    return visible, invisible


def _page_images(page: Any) -> Iterator[Image.Image]:
    """The page's images, decoded at reduced scale where the format allows."""
    resources = _resolve(page.get("/Resources")) or {}
    xobjects = _resolve(resources.get("/XObject")) or {}
    for key in list(xobjects.keys()):
        xobj = _resolve(xobjects[key])
        if not isinstance(xobj, DictionaryObject) or xobj.get("/Subtype") != "/Image":
            continue
        filters = xobj.get("/Filter")
        filters = [filters] if not isinstance(filters, list) else list(filters)
        if filters and filters[-1] == "/DCTDecode" and isinstance(xobj, StreamObject):
            im = Image.open(BytesIO(xobj.get_data()), formats=["JPEG"])
            im.draft("RGB", (SEAL_WORK_PX, SEAL_WORK_PX))
            yield im
        else:
            for image_file in page.images:
                if image_file.name.rsplit(".", 1)[0].lstrip("/") == str(key).lstrip("/"):
                    yield image_file.image
                    break


def _has_javascript(reader: PdfReader) -> bool:
    """Whether the document, a page or a link annotation carries a JavaScript action (or an auto action)."""
    root = _resolve(reader.trailer.get("/Root")) or {}
    names = _resolve(root.get("/Names")) or {}
    if "/JavaScript" in names or "/AA" in root:
        return True
    action = _resolve(root.get("/OpenAction"))
    if isinstance(action, DictionaryObject) and ("/JS" in action or action.get("/S") == "/JavaScript"):
        return True
    for page in reader.pages[:MAX_SEAL_PAGES]:
        if "/AA" in page:
            return True
        for annot in _resolve(page.get("/Annots")) or []:
            a = _resolve(_resolve(annot).get("/A"))
            if isinstance(a, DictionaryObject) and (a.get("/S") == "/JavaScript" or "/JS" in a):
                return True
    return False


def read_pdf(path: Path) -> PdfFacts:
    """Per page: text, visible/invisible text operators, fonts, images and the seal score; plus JavaScript and
    encryption of the whole file."""
    try:
        reader = PdfReader(str(path))
        encrypted = reader.is_encrypted
        if encrypted and not reader.decrypt(""):
            raise Unreadable("PDF设有打开密码，无法查看")
        pages = list(reader.pages)
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        raise Unreadable("PDF文件已损坏或不完整，无法打开") from exc
    chars: list[int] = []
    texts: list[str] = []
    image_only: list[int] = []
    with_fonts: list[int] = []
    scores: list[float] = []
    any_visible = any_invisible = False
    for number, page in enumerate(pages, start=1):
        try:
            text = page.extract_text() or ""
            visible, invisible = _text_ops(page, reader)
            resources = _resolve(page.get("/Resources")) or {}
            has_font = "/Font" in resources
            images = list(_page_images(page)) if number <= MAX_SEAL_PAGES else []
            n_images = len(images) if number <= MAX_SEAL_PAGES else len(page.images)
            scores.append(max((seal_score(im) for im in images), default=0.0))
        except (PdfReadError, ValueError, KeyError, TypeError, OSError, Image.DecompressionBombError) as exc:
            log.info("PDF page %d of %s unreadable: %s", number, path.name, exc)
            text, visible, invisible, has_font, n_images = "", 0, 0, False, 0
            scores.append(0.0)
        chars.append(len("".join(text.split())))
        texts.append(text)
        any_visible = any_visible or visible > 0
        any_invisible = any_invisible or invisible > 0
        if has_font:
            with_fonts.append(number)
        if n_images and visible == 0:
            image_only.append(number)
    best = max(range(len(scores)), key=lambda i: scores[i], default=None)
    return PdfFacts(
        pages=len(pages), text_chars_per_page=tuple(chars), image_only_pages=tuple(image_only),
        ocr_only_text=any_invisible and not any_visible and len(image_only) == len(pages),
        fonts_on_pages=tuple(with_fonts), seal_scores=tuple(round(s, 3) for s in scores),
        seal_best_page=best + 1 if best is not None and scores[best] > 0 else None,
        has_javascript=_has_javascript(reader), encrypted=encrypted, text="\n".join(texts)[:MAX_TEXT_CHARS])

