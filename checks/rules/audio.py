"""Audio files (not limited by the 2025 call; the Xinhua 2024 call allows audio up to 20 MB, 3–5 minutes)."""

from __future__ import annotations

from typing import Iterator

from checks.domain import FileRole, Severity
from checks.facts import SubmissionFacts
from checks.registry import REGISTRY, Check, Params
from checks.rules.common import limit_mb, mb, minutes, quoted


@REGISTRY.rule(id="audio-size", clause="四.4(5)", severity=Severity.REJECT, title="音频文件",
               params={"max_count": (int, 0), "max_bytes": (int, 0)})
def audio_size(facts: SubmissionFacts, params: Params) -> Iterator[Check]:
    audios = facts.with_role(FileRole.AUDIO)
    max_count, high = params["max_count"], params["max_bytes"]
    if max_count and len(audios) > max_count:
        yield Check(False, f"共收到{len(audios)}个音频，超过不超过{max_count}个的要求。",
                    evidence={"measured": len(audios), "max": max_count},
                    fix=f"请只保留{max_count}个音频后重新发送。")
    for f in audios:
        if high and f.size > high:
            yield Check(False, f"音频{quoted(f.name)}大小为{mb(f.size, high)}，超过{limit_mb(high)}的上限。",
                        file=f.name, evidence={"measured": f.size, "max": high},
                        fix=f"请压缩到{limit_mb(high)}以内（如导出为MP3格式）后重新发送。")
        else:
            yield Check(True, f"音频{quoted(f.name)}大小为{mb(f.size)}。", file=f.name,
                        evidence={"measured": f.size, "max": high})
    if not audios:
        yield Check(True, "未附音频，无需检查大小。", evidence={"absent": "音频", "unchecked": "大小"})


def _validate_duration(params: Params) -> None:
    if params["max_seconds"] and params["min_seconds"] > params["max_seconds"]:
        raise ValueError("min_seconds 大于 max_seconds")


@REGISTRY.rule(id="audio-duration", clause="四.4(5)", severity=Severity.REJECT, title="音频时长",
               params={"min_seconds": (float, 0.0), "max_seconds": (float, 0.0), "grace_seconds": (float, 1.0)},
               validate=_validate_duration)
def audio_duration(facts: SubmissionFacts, params: Params) -> Iterator[Check]:
    low, high, grace = params["min_seconds"], params["max_seconds"], params["grace_seconds"]
    audios = [f for f in facts.with_role(FileRole.AUDIO) if f.audio is not None]
    for f in audios:
        assert f.audio is not None
        seconds = f.audio.duration_s
        if seconds is None:
            yield Check(False, f"无法读取音频{quoted(f.name)}的时长。", file=f.name,
                        fix="请确认音频能正常播放，重新导出后发送。")
            continue
        evidence = {"measured": round(seconds, 1), "min": low, "max": high}
        if high and seconds > high + grace:
            yield Check(False, f"音频{quoted(f.name)}时长为{minutes(seconds)}，超过{minutes(high)}的上限。", file=f.name,
                        evidence=evidence, fix=f"请剪辑到{minutes(high)}以内后重新发送。")
        elif seconds < low - grace:
            yield Check(False, f"音频{quoted(f.name)}时长为{minutes(seconds)}，短于要求的{minutes(low)}。", file=f.name,
                        evidence=evidence, fix=f"请提供时长不少于{minutes(low)}的音频。")
        else:
            yield Check(True, f"音频{quoted(f.name)}时长为{minutes(seconds)}，符合要求。", file=f.name, evidence=evidence)
    if not audios:
        yield Check(True, "未附音频，无需检查时长。", evidence={"absent": "音频", "unchecked": "时长"})
