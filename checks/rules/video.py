"""四.4(5) 视频: at most one video, MP4, at most 6 minutes, 16:9 as shown (rotation metadata applied: a phone
video stored 1920×1080 with rotation 90 is shown upright, 9:16), at least 720P (the short side ≥ 720)."""

from __future__ import annotations

import re
from typing import Iterator

from checks.domain import FileRole, Severity
from checks.facts import FileFacts, LinkFacts, SubmissionFacts, VideoFacts
from checks.registry import REGISTRY, Check, Params
from checks.rules.common import limit_mb, mb, minutes, quoted


def _videos(facts: SubmissionFacts) -> list[tuple[FileFacts, VideoFacts]]:
    return [(f, f.video) for f in facts.with_role(FileRole.VIDEO) if f.video is not None]


def _none(what: str) -> Check:
    return Check(True, f"未附视频，无需检查{what}。", evidence={"absent": "视频", "unchecked": what})


def expiry_day(link: LinkFacts) -> str:
    """The link's expiry day as the webmail showed it (Beijing time), e.g. "2025-12-20"."""
    return link.expires_at.strftime("%Y-%m-%d") if link.expires_at is not None else ""


def link_unchecked(link: LinkFacts, what: str) -> Check:
    """A video sent as a 163 超大附件 / QQ 文件中转站 link: it is a video (it counts), but what needs the file cannot
    be checked until staff download it. One wording for every rule, so a receipt can say it once."""
    day = expiry_day(link)
    when = f"在 {day} 到期前下载" if day else "尽快下载（链接未注明到期时间，一般为30天）"
    return Check(False, f"视频{quoted(link.name)}以超大附件链接发送，系统无法直接检查；请工作人员{when}。",
                 file=link.name, milder=Severity.WARN,
                 evidence={"check": what, "url": link.url, "expires": day, "size": link.size_bytes or 0},
                 fix="无需重新发送：工作人员会在链接到期前下载视频并检查，请勿删除该超大附件或取消分享。")


def _linked_or_none(facts: SubmissionFacts, what: str, files: int) -> Iterator[Check]:
    """After the rule's checks of attached videos: a warning per video link, or "未附视频" when there is neither."""
    links = facts.video_links
    for link in links:
        yield link_unchecked(link, what)
    if not links and not files:
        yield _none(what)


@REGISTRY.rule(id="video-count", clause="四.4(5)", severity=Severity.REJECT, title="视频数量",
               params={"min_count": (int, 0), "max_count": (int, 1)})
def video_count(facts: SubmissionFacts, params: Params) -> Iterator[Check]:
    videos, links = facts.with_role(FileRole.VIDEO), facts.video_links
    n, low, high = len(videos) + len(links), params["min_count"], params["max_count"]
    evidence = {"measured": n, "min": low, "max": high, "links": len(links)}
    as_link = "，其中以超大附件链接发送：" + "、".join(
        quoted(link.name) + (f"（{expiry_day(link)} 到期）" if link.expires_at else "") for link in links) \
        if links else ""
    if n > high:
        yield Check(False, f"共收到{n}个视频{as_link}，超过每个案例不超过{high}个的要求（四.4(5)）。", evidence=evidence,
                    fix=f"请只保留{high}个视频（可将多个片段剪辑合成一个）后重新发送。")
    elif n < low:
        yield Check(False, f"共收到{n}个视频，少于要求的{low}个。", evidence=evidence, fix="请补充视频后重新发送。")
    else:
        yield Check(True, f"共收到{n}个视频{as_link}。" if n else "未附视频（视频为可选的辅助资料）。",
                    evidence={**evidence, "absent": "视频"} if n == 0 else evidence)


@REGISTRY.rule(id="video-format", clause="四.4(5)", severity=Severity.REJECT, title="视频格式",
               params={"containers": (list[str], ["MP4"])})
def video_format(facts: SubmissionFacts, params: Params) -> Iterator[Check]:
    allowed = {c.upper() for c in params["containers"]}
    wanted = "/".join(params["containers"])
    videos = _videos(facts)
    for f, v in videos:
        if (v.container or "").upper() in allowed:
            yield Check(True, f"视频{quoted(f.name)}为{v.container}格式。", file=f.name,
                        evidence={"measured": v.container or ""})
        else:
            yield Check(False, f"视频{quoted(f.name)}是{v.container or '无法识别的'}格式，要求{wanted}格式（四.4(5)）。",
                        file=f.name, evidence={"measured": v.container or "unknown", "allowed": wanted},
                        fix=f"请用视频软件（如剪映、格式工厂）导出为{wanted}格式（H.264编码）后重新发送。")
    yield from _linked_or_none(facts, "格式", len(videos))


def _validate_duration(params: Params) -> None:
    if params["max_seconds"] and params["min_seconds"] > params["max_seconds"]:
        raise ValueError("min_seconds 大于 max_seconds")


@REGISTRY.rule(id="video-duration", clause="四.4(5)", severity=Severity.REJECT, title="视频时长",
               params={"min_seconds": (float, 0.0), "max_seconds": (float, 360.0),
                       # Players show 6:00 for 360.4 s; a container's last frame timestamp is not a sender's choice.
                       "grace_seconds": (float, 1.0)},
               validate=_validate_duration)
def video_duration(facts: SubmissionFacts, params: Params) -> Iterator[Check]:
    low, high, grace = params["min_seconds"], params["max_seconds"], params["grace_seconds"]
    videos = _videos(facts)
    for f, v in videos:
        if v.duration_s is None:
            yield Check(False, f"无法读取视频{quoted(f.name)}的时长。", file=f.name,
                        fix="请确认视频能正常播放，重新导出后发送。")
            continue
        evidence = {"measured": round(v.duration_s, 1), "min": low, "max": high}
        if high and v.duration_s > high + grace:
            yield Check(False, f"视频{quoted(f.name)}时长为{minutes(v.duration_s)}，超过{minutes(high)}的上限（四.4(5)）。",
                        file=f.name, evidence=evidence, fix=f"请剪辑到{minutes(high)}以内后重新发送。")
        elif v.duration_s < low - grace:
            yield Check(False, f"视频{quoted(f.name)}时长为{minutes(v.duration_s)}，短于要求的{minutes(low)}。",
                        file=f.name, evidence=evidence, fix=f"请提供时长不少于{minutes(low)}的视频。")
        else:
            yield Check(True, f"视频{quoted(f.name)}时长为{minutes(v.duration_s)}，符合要求。", file=f.name,
                        evidence=evidence)
    yield from _linked_or_none(facts, "时长", len(videos))


def _ratio(text: str) -> float:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*[:：/]\s*(\d+(?:\.\d+)?)\s*", text)
    if not m or float(m.group(2)) == 0:
        raise ValueError(f"aspect 应形如 16:9，实际是 {text!r}")
    return float(m.group(1)) / float(m.group(2))


def _validate_aspect(params: Params) -> None:
    _ratio(params["aspect"])
    if not 0 <= params["tolerance"] < 0.5:
        raise ValueError("tolerance 应为 0 到 0.5 之间的小数，例如 0.03")


@REGISTRY.rule(id="video-aspect", clause="四.4(5)", severity=Severity.REJECT, title="视频画面比例",
               params={"aspect": (str, "16:9"), "tolerance": (float, 0.03)}, validate=_validate_aspect)
def video_aspect(facts: SubmissionFacts, params: Params) -> Iterator[Check]:
    wanted = _ratio(params["aspect"])
    videos = _videos(facts)
    for f, v in videos:
        shown = v.shown_aspect
        size = v.shown_size
        size_text = f"{size[0]}×{size[1]}" if size else "未知尺寸"
        rotated = f"（含{v.rotation_deg}°旋转信息，播放时为竖屏）" if v.turned and shown and shown < 1 else ""
        evidence = {"measured": round(shown, 3) if shown else None, "expected": round(wanted, 3),
                    "rotation": v.rotation_deg, "shown": size_text}
        if shown is None:
            yield Check(False, f"无法读取视频{quoted(f.name)}的画面比例。", file=f.name, evidence=evidence,
                        fix="请确认视频能正常播放，重新导出后发送。")
        elif abs(shown - wanted) / wanted > params["tolerance"]:
            yield Check(False, f"视频{quoted(f.name)}画面为{size_text}{rotated}，比例约{_ratio_text(shown)}，"
                               f"要求{params['aspect']}（四.4(5)）。", file=f.name, evidence=evidence,
                        fix=f"请横屏拍摄，或用视频软件导出为{params['aspect']}画面（如1920×1080、1280×720）后重新发送。")
        else:
            yield Check(True, f"视频{quoted(f.name)}画面为{size_text}，比例{params['aspect']}。", file=f.name,
                        evidence=evidence)
    yield from _linked_or_none(facts, "画面比例", len(videos))


def _ratio_text(aspect: float) -> str:
    for w, h in ((16, 9), (4, 3), (9, 16), (3, 4), (1, 1), (21, 9), (3, 2), (2, 3), (16, 10)):
        if abs(aspect - w / h) / (w / h) < 0.02:
            return f"{w}:{h}"
    return f"{aspect:.2f}:1"


@REGISTRY.rule(id="video-resolution", clause="四.4(5)", severity=Severity.REJECT, title="视频分辨率",
               params={"min_short_side": (int, 720), "exact_width": (int | None, None),
                       "exact_height": (int | None, None)})
def video_resolution(facts: SubmissionFacts, params: Params) -> Iterator[Check]:
    low, ew, eh = params["min_short_side"], params["exact_width"], params["exact_height"]
    videos = _videos(facts)
    for f, v in videos:
        size = v.shown_size
        if size is None:
            yield Check(False, f"无法读取视频{quoted(f.name)}的分辨率。", file=f.name,
                        fix="请确认视频能正常播放，重新导出后发送。")
            continue
        w, h = size
        evidence = {"width": w, "height": h, "min_short_side": low, "exact": f"{ew}x{eh}" if ew or eh else ""}
        if min(w, h) < low:
            yield Check(False, f"视频{quoted(f.name)}分辨率为{w}×{h}（{min(w, h)}P），低于{low}P的要求（四.4(5)）。",
                        file=f.name, evidence=evidence,
                        fix=f"请以{low}P或更高分辨率（如1280×720、1920×1080）重新导出视频后发送。")
        elif (ew and w != ew) or (eh and h != eh):
            yield Check(False, f"视频{quoted(f.name)}分辨率为{w}×{h}，要求{ew or w}×{eh or h}。", file=f.name,
                        evidence=evidence, fix=f"请以{ew or w}×{eh or h}分辨率重新导出视频后发送。")
        else:
            yield Check(True, f"视频{quoted(f.name)}分辨率为{w}×{h}，符合要求。", file=f.name, evidence=evidence)
    yield from _linked_or_none(facts, "分辨率", len(videos))


@REGISTRY.rule(id="video-size", clause="四.4(5)", severity=Severity.REJECT, title="视频文件大小",
               params={"max_bytes": (int, 0)})
def video_size(facts: SubmissionFacts, params: Params) -> Iterator[Check]:
    high = params["max_bytes"]
    videos = _videos(facts)
    for f, _ in videos:
        if high and f.size > high:
            yield Check(False, f"视频{quoted(f.name)}大小为{mb(f.size, high)}，超过{limit_mb(high)}的上限。",
                        file=f.name, evidence={"measured": f.size, "max": high},
                        fix=f"请压缩到{limit_mb(high)}以内（降低码率，分辨率不变）后重新发送。")
        else:
            yield Check(True, f"视频{quoted(f.name)}大小为{mb(f.size)}。", file=f.name,
                        evidence={"measured": f.size, "max": high})
    for link in facts.video_links:
        if not high:
            stated = f"标注大小约{mb(link.size_bytes)}" if link.size_bytes else "未标注大小"
            yield Check(True, f"视频{quoted(link.name)}以超大附件链接发送，{stated}（不限大小）。", file=link.name,
                        evidence={"measured": link.size_bytes or 0, "max": high})
        elif link.size_bytes is None:
            yield link_unchecked(link, "文件大小")
        elif link.size_bytes > high:
            yield Check(False, f"视频{quoted(link.name)}（超大附件链接）标注大小约{mb(link.size_bytes, high)}，"
                               f"超过{limit_mb(high)}的上限。", file=link.name, milder=Severity.WARN,
                        evidence={"measured": link.size_bytes, "max": high, "url": link.url},
                        fix=f"请压缩到{limit_mb(high)}以内（降低码率，分辨率不变）后重新发送。")
        else:
            yield Check(True, f"视频{quoted(link.name)}（超大附件链接）标注大小约{mb(link.size_bytes)}。",
                        file=link.name, evidence={"measured": link.size_bytes, "max": high})
    if not videos and not facts.video_links:
        yield _none("文件大小")
