"""Real videos (H.264 in MP4, MOV, AVI or MKV, optionally with phone-style rotation) and audio files, made by
ffmpeg from the ``imageio-ffmpeg`` wheel."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Sequence

import imageio_ffmpeg

from ingest.samples import file_seed



def _ffmpeg(args: Sequence[str], timeout: float = 300) -> None:
    exe = imageio_ffmpeg.get_ffmpeg_exe()
    proc = subprocess.run([exe, "-hide_banner", "-loglevel", "error", "-y", *args], capture_output=True,
                          timeout=timeout, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"ffmpeg failed: {proc.stderr.decode(errors='replace')[-500:]}")


def make_mp4(path: Path, seconds: float, width: int, height: int, rotate: int | None = None, *,
             container: str = "mp4", fps: int = 2, with_audio: bool = False) -> Path:
    """A real H.264 video of the given length and coded size. Kept tiny and fast: a test pattern at a low frame
    rate and the lowest quality (a 7-minute 720p file is a few hundred KB). ``rotate`` writes display-matrix
    rotation metadata as phones do (the frames stay ``width``×``height``). ``container``: mp4, mov, avi, mkv."""
    # A still colour field with a moving box: real frames, but they compress to almost nothing. The colours come
    # from the file name, so two samples of different names are different files.
    tint = file_seed(path, None)
    src = (f"color=c=0x{tint & 0xFFFFFF:06x}:size={width}x{height}:rate={fps},"
           f"drawbox=x='mod(t*40,{max(1, width - 64)})':y={height // 3}:w=64:h=64:"
           f"color=0x{(tint >> 8) & 0xFFFFFF ^ 0xFFFFFF:06x}:t=fill")
    args = ["-f", "lavfi", "-i", src]
    if with_audio:
        args += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=22050"]
    args += ["-t", f"{seconds:.3f}", "-c:v", "libx264", "-preset", "ultrafast", "-crf", "51", "-g", str(fps * 60),
             "-pix_fmt", "yuv420p"]
    if with_audio:
        args += ["-c:a", "aac", "-b:a", "32k", "-shortest"]
    fmt = {"mp4": "mp4", "mov": "mov", "avi": "avi", "mkv": "matroska"}[container]
    if rotate is None:
        _ffmpeg([*args, "-f", fmt, str(path)])
        return path
    plain = path.with_name(path.stem + ".unrotated." + container)
    _ffmpeg([*args, "-f", fmt, str(plain)])
    try:
        # -display_rotation is counter-clockwise; phones store "rotate 90" meaning turn clockwise on playback.
        _ffmpeg(["-display_rotation", str(-rotate), "-i", str(plain), "-c", "copy", "-f", fmt, str(path)])
    finally:
        plain.unlink(missing_ok=True)
    return path


def make_audio(path: Path, seconds: float, *, bitrate: str = "64k") -> Path:
    """A real audio file (format from the suffix: .mp3, .m4a, .wav) of a sine tone."""
    codecs = {".mp3": ["-c:a", "libmp3lame"], ".m4a": ["-c:a", "aac"], ".wav": ["-c:a", "pcm_s16le"]}
    codec = codecs[path.suffix.lower()]
    _ffmpeg(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100", "-t", f"{seconds:.3f}", *codec,
             *(["-b:a", bitrate] if path.suffix.lower() != ".wav" else []), str(path)])
    return path
