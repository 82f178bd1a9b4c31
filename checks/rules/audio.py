"""Audio files (not limited by the 2025 call; the Xinhua 2024 call allows audio up to 20 MB)."""

from __future__ import annotations

from typing import Iterator

from checks.facts import SubmissionFacts
from checks.registry import REGISTRY, Check, Params
from checks.rules.common import limit_mb, mb, quoted


@REGISTRY.rule(id="audio-size", clause="四.4(5)", severity="reject", title="音频文件",
               params={"max_count": (int, 0), "max_bytes": (int, 0)})
def audio_size(facts: SubmissionFacts, params: Params) -> Iterator[Check]:
    audios = facts.with_role("audio")
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
        yield Check(True, "未附音频，无需检查。")
