"""Every sample-file generator by name, for callers that write ``samples.make_jpeg(...)``: Word documents in
``documents``, PDFs in ``pdfs``, photos in ``images``, video and audio in ``media``.

Every file is made by the tool that makes such files in the wild: python-docx documents (A4, Chinese fonts set on
``w:eastAsia``), Pillow page scans saved as image-only PDFs, reportlab text PDFs, Pillow JPEGs of a target size,
and ffmpeg (the ``imageio-ffmpeg`` wheel's binary) MP4s. Nothing here writes hand-made bytes.
"""

from __future__ import annotations

from ingest.samples import A4_MM
from ingest.samples.documents import (
    SECTIONS,
    WORD_DEFAULT_MARGINS_MM,
    libreoffice_convert,
    make_caption_docx,
    make_form_docx,
    make_formatted_docx,
    make_text_docx,
    make_textbox_docx,
)
from ingest.samples.images import make_jpeg, make_png, make_truncated_jpeg
from ingest.samples.media import make_audio, make_mp4
from ingest.samples.pdfs import make_ocr_pdf, make_scanned_pdf, make_text_pdf

__all__ = [
    "A4_MM", "SECTIONS", "WORD_DEFAULT_MARGINS_MM", "libreoffice_convert", "make_audio", "make_caption_docx",
    "make_form_docx", "make_formatted_docx", "make_jpeg", "make_mp4", "make_ocr_pdf", "make_png", "make_scanned_pdf",
    "make_text_docx", "make_text_pdf", "make_textbox_docx", "make_truncated_jpeg",
]
