"""Video rules (四.4(5)) on real MP4/MOV files made by ffmpeg: "video-count", "video-format", "video-duration",
"video-aspect", "video-resolution", "video-size"; and "audio-size" on a real MP3."""

from __future__ import annotations

from checks.facts import FileFacts
from test_rules_support import failures, file_facts, only_passes, run, submission


def video(kind: str, name: str | None = None) -> FileFacts:
    return file_facts(kind, "video", name)


def test_video_count_one_pass_two_fail() -> None:
    assert only_passes(run("video-count", submission(video("video_16x9_1080p.mp4"))))
    (bad,) = failures(run("video-count", submission(video("video_16x9_1080p.mp4", "a.mp4"),
                                                    video("video_16x9_480p.mp4", "b.mp4"))))
    assert bad.evidence["measured"] == 2 and "不超过1个" in bad.message


def test_video_format_mp4_pass_mov_fail() -> None:
    assert only_passes(run("video-format", submission(video("video_16x9_1080p.mp4"))))
    (bad,) = failures(run("video-format", submission(video("video_720p.mov"))))
    assert bad.evidence["measured"] == "MOV" and "MP4" in bad.message


def test_video_duration_5_minutes_pass_7_minutes_fail() -> None:
    (ok,) = run("video-duration", submission(video("video_16x9_720p_5min.mp4")))
    assert ok.passed and abs(ok.evidence["measured"] - 300) < 1
    (bad,) = failures(run("video-duration", submission(video("video_16x9_720p_7min.mp4", "宣传片.mp4"))))
    assert "7分钟" in bad.message and "6分钟" in bad.message and bad.file == "宣传片.mp4"


def test_video_duration_range_from_config() -> None:
    (bad,) = failures(run("video-duration", submission(video("video_16x9_1080p.mp4")), min_seconds=180.0,
                          max_seconds=300.0))
    assert "短于要求的3分钟" in bad.message


def test_video_aspect_16x9_pass_4x3_fail() -> None:
    assert only_passes(run("video-aspect", submission(video("video_16x9_1080p.mp4"))))
    (bad,) = failures(run("video-aspect", submission(video("video_4x3.mp4"))))
    assert "4:3" in bad.message and "16:9" in bad.message


def test_video_aspect_rotated_phone_video_is_portrait() -> None:
    (bad,) = failures(run("video-aspect", submission(video("video_phone_rotated.mp4"))))
    assert bad.evidence["rotation"] == 90 and bad.evidence["shown"] == "1080×1920"
    assert "竖屏" in bad.message and "横屏" in bad.fix


def test_video_resolution_720p_pass_480p_fail() -> None:
    assert only_passes(run("video-resolution", submission(video("video_16x9_720p_5min.mp4"))))
    (bad,) = failures(run("video-resolution", submission(video("video_16x9_480p.mp4"))))
    assert "854×480" in bad.message and "720P" in bad.message


def test_video_resolution_exact_size_from_config() -> None:
    assert only_passes(run("video-resolution", submission(video("video_16x9_1080p.mp4")), exact_width=1920,
                           exact_height=1080))
    assert failures(run("video-resolution", submission(video("video_16x9_720p_5min.mp4")), exact_width=1920,
                        exact_height=1080))


def test_video_size_limit_from_config() -> None:
    v = video("video_16x9_1080p.mp4")
    assert only_passes(run("video-size", submission(v)))
    (bad,) = failures(run("video-size", submission(v), max_bytes=v.size - 1))
    assert bad.evidence["measured"] == v.size


def test_audio_size_limit_from_config() -> None:
    a = file_facts("audio.mp3", "audio", "配音.mp3")
    assert a.audio is not None and a.audio.container == "MP3"
    assert only_passes(run("audio-size", submission(a), max_bytes=20 * 1024 * 1024))
    (bad,) = failures(run("audio-size", submission(a), max_bytes=a.size // 2))
    assert bad.file == "配音.mp3"
