"""Video and audio: container, duration, frame size, display aspect and rotation, read by libmediainfo."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from pymediainfo import MediaInfo

from checks.domain import FileRole
from checks.facts import AudioFacts, FileFacts, VideoFacts
from ingest.files.readers import Unreadable

# Containers read as media whatever role the file was given.
MEDIA_FORMATS = ("MP4", "MOV", "AVI", "MKV", "FLV", "WMV", "3GP", "MP3", "M4A", "WAV")


def _rotation(value: Any) -> int:
    """Degrees 0..359 from mediainfo's rotation string (e.g. '90.000'); 0 when absent or not a number."""
    try:
        return int(round(float(value))) % 360
    except (TypeError, ValueError):
        return 0


def read_media(base: FileFacts, path: Path, kind: str | None, role: str) -> FileFacts:
    """``base`` with its video facts (or audio facts, for an audio file or a video without a picture)."""
    try:
        info = MediaInfo.parse(str(path))
    except (OSError, RuntimeError, ValueError) as exc:
        raise Unreadable("无法读取音视频信息，文件可能已损坏") from exc
    general = info.general_tracks[0] if info.general_tracks else None
    container = kind if kind not in (None, "ZIP") else (getattr(general, "format", None) if general else None)
    duration_ms = getattr(general, "duration", None) if general else None
    duration = float(duration_ms) / 1000 if duration_ms else None
    if info.video_tracks and role != FileRole.AUDIO:
        v = info.video_tracks[0]
        aspect = getattr(v, "display_aspect_ratio", None)
        return replace(base, video=VideoFacts(
            container=container, duration_s=duration or (float(v.duration) / 1000 if v.duration else None),
            width=int(v.width) if v.width else None, height=int(v.height) if v.height else None,
            display_aspect=float(aspect) if aspect else None, rotation_deg=_rotation(getattr(v, "rotation", 0)),
            size=base.size))
    if info.audio_tracks:
        return replace(base, audio=AudioFacts(container=container, duration_s=duration, size=base.size))
    raise Unreadable("文件中没有可播放的音视频内容，可能已损坏或格式不受支持")


# ---------------------------------------------------------------------------------------------------------------
# DOCX: text as Word counts it, tables, and formatting resolved through styles (for font/spacing rules)
# ---------------------------------------------------------------------------------------------------------------
