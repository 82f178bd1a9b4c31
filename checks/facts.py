"""Plain data the rules read. Built by ``ingest.files.facts`` (which parses the files); rules never touch a file.

Everything here is a frozen dataclass or a read-only protocol, so a rule cannot change what another rule sees,
and a stored submission can be re-checked from the same facts after a rule change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from checks.domain import CaseIdentity, FileRole

# ---------------------------------------------------------------------------------------------------------------
# Per-format facts
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageFacts:
    format: str | None  # by magic bytes: "JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF", "HEIC" or None
    width: int | None
    height: int | None
    decoded_ok: bool  # the whole image decoded (a truncated JPEG passes Image.verify() but fails here)
    error: str | None = None  # plain Chinese reason when decoded_ok is False
    orientation: int = 1  # EXIF Orientation (1-8): how a viewer turns the stored pixels; 5-8 swap the sides

    @property
    def long_edge(self) -> int:
        return max(self.width or 0, self.height or 0)

    @property
    def shown_size(self) -> tuple[int | None, int | None]:
        """(width, height) as a viewer shows the photo, after the EXIF rotation."""
        if self.orientation in (5, 6, 7, 8):
            return self.height, self.width
        return self.width, self.height


@dataclass(frozen=True)
class VideoFacts:
    container: str | None  # "MP4", "MOV", "AVI", "MKV", "FLV", "WMV", ... or None when unknown
    duration_s: float | None
    width: int | None  # coded width, as stored (rotation NOT applied)
    height: int | None
    display_aspect: float | None  # as stored (rotation NOT applied), e.g. 1.778
    rotation_deg: int  # 0, 90, 180, 270 (phone videos carry 90/270)
    size: int

    @property
    def turned(self) -> bool:
        return self.rotation_deg % 180 == 90

    @property
    def shown_aspect(self) -> float | None:
        """Aspect ratio as the viewer sees it, after the rotation metadata is applied."""
        aspect = self.display_aspect
        if aspect is None and self.width and self.height:
            aspect = self.width / self.height
        if aspect is None or aspect <= 0:
            return None
        return 1 / aspect if self.turned else aspect

    @property
    def shown_size(self) -> tuple[int, int] | None:
        if not self.width or not self.height:
            return None
        return (self.height, self.width) if self.turned else (self.width, self.height)

    @property
    def short_side(self) -> int:
        return min(self.width or 0, self.height or 0)


@dataclass(frozen=True)
class AudioFacts:
    container: str | None
    duration_s: float | None
    size: int


@dataclass(frozen=True)
class ParagraphFacts:
    """One DOCX paragraph with its formatting resolved through run → paragraph style chain → docDefaults.

    The font fields describe the paragraph's dominant run (the one holding most characters)."""

    text: str
    style: str | None
    heading_level: int | None  # 1.. for "Heading N"/"标题 N" styles and outline levels, else None
    east_asian_font: str | None  # w:eastAsia, the font Chinese characters are set in
    latin_font: str | None  # w:ascii
    size_pt: float | None
    bold: bool | None
    line_spacing: float | None  # multiple of single spacing (1.5 = 1.5 倍行距) when proportional
    line_spacing_pt: float | None  # exact / at-least spacing in points, when fixed
    in_table: bool = False


@dataclass(frozen=True)
class DocFacts:
    text: str  # body text, paragraphs joined by newlines (tables included, cell by cell)
    word_count: int  # Word's 字数 (checks.wordcount)
    cjk_chars: int
    latin_words: int
    paragraphs: tuple[ParagraphFacts, ...]
    tables: tuple[tuple[tuple[str, ...], ...], ...]  # tables → rows → cell texts
    page_width_mm: float | None
    page_height_mm: float | None
    encrypted: bool = False
    margins_mm: tuple[float, float, float, float] | None = None  # top, bottom, left, right of the first section


@dataclass(frozen=True)
class PdfFacts:
    pages: int
    text_chars_per_page: tuple[int, ...]
    image_only_pages: tuple[int, ...]  # 1-based pages with images and no text drawn visibly
    ocr_only_text: bool  # the only text is invisible (render mode 3): an OCR layer over a scan
    fonts_on_pages: tuple[int, ...]  # 1-based pages with a /Font resource
    seal_scores: tuple[float, ...]  # per page, 0..1: confidence a red round seal is on the page images
    seal_best_page: int | None  # 1-based
    has_javascript: bool
    encrypted: bool
    text: str = ""  # extracted text (capped), for text material sent as PDF

    @property
    def seal_best_score(self) -> float:
        return max(self.seal_scores, default=0.0)

    @property
    def is_scan(self) -> bool:
        """Every page is an image; any text is only an invisible OCR layer."""
        return self.pages > 0 and (len(self.image_only_pages) == self.pages or self.ocr_only_text)


@dataclass(frozen=True)
class SheetFacts:
    """An Excel workbook (.xlsx): its sheets and the text of its cells (capped), for recognising forms by content."""

    sheet_names: tuple[str, ...]
    text: str  # cell texts, row by row, cells separated by tabs, sheets by blank lines
    rows: int  # rows with at least one non-empty cell, all sheets


@dataclass(frozen=True)
class FileFacts:
    name: str  # decoded original name (archive members: path inside the archive)
    role: str  # form_word, form_pdf, text, photo, video, audio, auxiliary, link, unknown
    size: int
    sha256: str
    archive: str | None = None
    image: ImageFacts | None = None
    video: VideoFacts | None = None
    audio: AudioFacts | None = None
    doc: DocFacts | None = None
    pdf: PdfFacts | None = None
    sheet: SheetFacts | None = None
    error: str | None = None  # plain Chinese: why the file could not be read

    @property
    def base_name(self) -> str:
        return self.name.rsplit("/", 1)[-1]

    @property
    def text(self) -> str:
        if self.doc is not None:
            return self.doc.text
        if self.pdf is not None:
            return self.pdf.text
        if self.sheet is not None:
            return self.sheet.text
        return ""


# What a link's file name says it is: webmails keep the original name (with its extension) on the link.
VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".avi", ".mkv", ".wmv", ".flv", ".mpg", ".mpeg", ".3gp", ".ts", ".webm")
VIDEO_NAME_WORDS = ("视频", "宣传片", "微课", "录像", "短片", "纪录片")


@dataclass(frozen=True)
class LinkFacts:
    """A large-attachment link (163 超大附件, QQ 文件中转站): the file itself was not received with the mail.

    ``supplied`` is true once the file behind it is part of the submission (staff attached the downloaded file,
    or the automatic download succeeded): the rules then read that file and the link stands for nothing."""

    name: str
    url: str
    size_bytes: int | None = None
    expires_at: datetime | None = None
    supplied: bool = False

    @property
    def is_video(self) -> bool:
        """The link's name says it is a video (extension, or words like 视频/宣传片 in a name without one)."""
        lowered = self.name.lower()
        if lowered.endswith(VIDEO_SUFFIXES):
            return True
        has_other_suffix = "." in lowered.rsplit("/", 1)[-1][-6:]
        return not has_other_suffix and any(w in self.name for w in VIDEO_NAME_WORDS)


# ---------------------------------------------------------------------------------------------------------------
# The submission and what came before it
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PriorSubmission:
    """An earlier case of the same campaign (for quotas and duplicates)."""

    case_no: str
    sender: str
    identity: CaseIdentity
    received_at: datetime
    file_sha256s: tuple[str, ...] = ()
    status: str = ""


@dataclass(frozen=True)
class SubmissionFacts:
    case_no: str
    sender: str
    subject: CaseIdentity  # what the subject (completed from the form) says
    received_at: datetime  # aware; the server's INTERNALDATE (offline: the Date header or --received)
    files: tuple[FileFacts, ...]
    links: tuple[LinkFacts, ...] = ()
    body_text: str = ""
    prior: tuple[PriorSubmission, ...] = ()
    # Unpacking problems as (code, plain Chinese message, archive path or None), e.g. ("archive.encrypted", …).
    problems: tuple[tuple[str, str, str | None], ...] = ()
    # Disagreements between the subject and the form/attachment names (Chinese notes for staff).
    mismatches: tuple[str, ...] = field(default=())
    # Files sent more than once in this mail (same content): (name of the copy, name of the file kept). Counted once.
    repeated: tuple[tuple[str, str], ...] = ()

    def with_role(self, *roles: str) -> tuple[FileFacts, ...]:
        return tuple(f for f in self.files if f.role in roles)

    def role_count(self, role: str) -> int:
        """Files of this role, a video sent as a large-attachment link counting as a video."""
        return len(self.with_role(role)) + (len(self.video_links) if role == FileRole.VIDEO else 0)

    @property
    def video_links(self) -> tuple[LinkFacts, ...]:
        """Videos sent as large-attachment links whose file is not (yet) part of the submission."""
        return tuple(link for link in self.links if link.is_video and not link.supplied)
