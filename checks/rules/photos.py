"""四.4(4) 图片材料: at most 8 photos, JPG (by content, not by extension), each at least 2 MB, complete (decodes to
the last line), each with a caption (文字说明). Limits are parameters so other calls (≥5 photos, 2–5 MB, long edge
> 2000 px) need only configuration."""

from __future__ import annotations

import re
from typing import Iterator

from checks.domain import FileRole, Severity
from checks.facts import FileFacts, SubmissionFacts
from checks.registry import REGISTRY, Check, Params
from checks.rules.common import MB, case_in_form, limit_mb, listing, mb, normalise, quoted

_FORMAT_ZH = {"JPEG": "JPG", "PNG": "PNG", "GIF": "GIF", "WEBP": "WebP", "BMP": "BMP", "TIFF": "TIFF",
              "HEIC": "HEIC（苹果手机格式）"}


def _photos(facts: SubmissionFacts) -> tuple[FileFacts, ...]:
    return facts.with_role(FileRole.PHOTO)


def _none(what: str) -> Check:
    return Check(True, f"未附照片，无需检查{what}。", evidence={"absent": "照片", "unchecked": what})


def _validate_count(params: Params) -> None:
    if params["max_count"] and params["min_count"] > params["max_count"]:
        raise ValueError("min_count 大于 max_count")


def _counting_notes(facts: SubmissionFacts) -> str:
    """How the count was made, for the sender: pictures taken as 辅助资料 (a scanned certificate or newspaper
    clipping: named so, not held to the photo rules) and photos attached twice (counted once)."""
    notes = []
    aux = [f.base_name for f in facts.with_role(FileRole.AUXILIARY) if f.image is not None]
    if aux:
        notes.append(f"另有{len(aux)}个图片文件（{listing(aux)}）按名称或内容判为辅助资料（证书、奖状、报道、剪报等），"
                     "不计入照片，也不按照片的大小要求检查")
    photo_names = {p.name for p in _photos(facts)}
    twice = [copy for copy, kept in facts.repeated if kept in photo_names]
    if twice:
        notes.append(f"{len(twice)}个照片文件重复附上，只计一次")
    return f"（{'；'.join(notes)}）" if notes else ""


@REGISTRY.rule(id="photo-count", clause="四.4(4)", severity=Severity.REJECT, title="照片数量",
               params={"min_count": (int, 0), "max_count": (int, 8), "only_with_roles": (list[str], []),
                       "unless_roles": (list[str], []), "form_text_min_words": (int, 0)},
               validate=_validate_count)
def photo_count(facts: SubmissionFacts, params: Params) -> Iterator[Check]:
    n = len(_photos(facts))
    note = _counting_notes(facts)
    low, high = params["min_count"], params["max_count"]
    evidence = {"measured": n, "min": low, "max": high}
    # Some calls ask for photos only with one form of case (the Xinhua call: a text case comes with photos, and
    # a case written in its 申报表 is a text case too)…
    gate = tuple(params["only_with_roles"])
    text_in_form = FileRole.TEXT in gate and bool(case_in_form(facts, params["form_text_min_words"]))
    if gate and not any(facts.role_count(r) for r in gate) and not text_in_form:
        yield Check(True, f"共收到{n}张照片（本案例不含{'、'.join(FileRole.label_of(r) for r in gate)}，不要求照片数量）{note}。",
                    evidence=evidence)
        return
    # … or with something else instead ("需附上图片或视频": a video stands in for the pictures, a video sent as a
    # large-attachment link too).
    instead = [r for r in params["unless_roles"] if facts.role_count(r)]
    if instead and n < low:
        yield Check(True, f"共收到{n}张照片；已附{'、'.join(FileRole.label_of(r) for r in instead)}，"
                          f"可不附{low}张图片。", evidence=evidence)
        return
    if high and n > high:
        yield Check(False, f"共收到{n}张照片{note}，超过每个案例不超过{high}张的要求（四.4(4)）。", evidence=evidence,
                    fix=f"请从中精选不超过{high}张照片后重新发送。")
    elif n < low:
        yield Check(False, f"共收到{n}张照片{note}，少于要求的{low}张。", evidence=evidence,
                    fix=f"请补充照片，至少{low}张后重新发送。")
    else:
        yield Check(True, f"共收到{n}张照片{note}，符合{'不超过' + str(high) + '张' if high else '数量'}的要求。"
                    if n else f"未附照片（图片材料由申报单位根据实际情况提供）{note}。",
                    evidence={**evidence, "absent": "照片"} if n == 0 else evidence)


@REGISTRY.rule(id="photo-format", clause="四.4(4)", severity=Severity.REJECT, title="照片格式",
               params={"formats": (list[str], ["JPEG"])})
def photo_format(facts: SubmissionFacts, params: Params) -> Iterator[Check]:
    allowed = {f.upper() for f in params["formats"]}
    wanted = "/".join(_FORMAT_ZH.get(f, f) for f in params["formats"])
    photos = [p for p in _photos(facts) if p.image is not None]
    bad = [p for p in photos if (p.image.format if p.image else None) not in allowed]
    for p in bad:
        real = p.image.format if p.image else None
        real_zh = _FORMAT_ZH.get(real or "", real or "无法识别的")
        ext = p.base_name.rsplit(".", 1)[-1].lower() if "." in p.base_name else ""
        renamed = "（只改了扩展名，内容并不是JPG）" if ext in {"jpg", "jpeg"} and real != "JPEG" else ""
        yield Check(False, f"照片{quoted(p.name)}实际是{real_zh}格式{renamed}，要求{wanted}格式（四.4(4)）。",
                    file=p.name, evidence={"measured": real or "unknown", "allowed": ",".join(sorted(allowed))},
                    fix=f"请用相机或手机导出的原始{wanted}照片，或用图片软件“另存为”{wanted}格式后重新发送，不要只改扩展名。")
    if not photos:
        yield _none("格式")
    elif not bad:
        yield Check(True, f"{len(photos)}张照片均为{wanted}格式。", evidence={"files": len(photos)})


def _validate_size(params: Params) -> None:
    if params["max_bytes"] and params["min_bytes"] > params["max_bytes"]:
        raise ValueError("min_bytes 大于 max_bytes")


@REGISTRY.rule(id="photo-size", clause="四.4(4)", severity=Severity.REJECT, title="照片大小",
               params={"min_bytes": (int, 2 * MB), "max_bytes": (int, 0)}, validate=_validate_size)
def photo_size(facts: SubmissionFacts, params: Params) -> Iterator[Check]:
    low, high = params["min_bytes"], params["max_bytes"]
    photos = _photos(facts)
    failed = False
    for p in photos:
        evidence = {"measured": p.size, "min": low, "max": high}
        if p.size < low:
            failed = True
            yield Check(False, f"照片{quoted(p.name)}大小为{mb(p.size, low)}，低于要求的{limit_mb(low)}（四.4(4)）。",
                        file=p.name, evidence=evidence,
                        fix="请提供相机或手机拍摄的原图，不要压缩后再发送（微信、QQ传过的图片会被压缩）。")
        elif high and p.size > high:
            failed = True
            yield Check(False, f"照片{quoted(p.name)}大小为{mb(p.size, high)}，超过{limit_mb(high)}的上限。",
                        file=p.name, evidence=evidence, fix=f"请将照片压缩到{limit_mb(high)}以内后重新发送。")
    if not photos:
        yield _none("大小")
    elif not failed:
        limit = f"{limit_mb(low)}—{limit_mb(high)}" if high else f"不低于{limit_mb(low)}"
        yield Check(True, f"{len(photos)}张照片大小均符合{limit}的要求（最小{mb(min(p.size for p in photos))}）。",
                    evidence={"min_measured": min(p.size for p in photos)})


@REGISTRY.rule(id="photo-decodes", clause="四.4(4)", severity=Severity.REJECT, title="照片完整清晰")
def photo_decodes(facts: SubmissionFacts, params: Params) -> Iterator[Check]:
    photos = [p for p in _photos(facts) if p.image is not None]
    broken = [p for p in photos if p.image is not None and not p.image.decoded_ok]
    for p in broken:
        why = p.image.error if p.image and p.image.error else "无法完整解码"
        yield Check(False, f"照片{quoted(p.name)}不完整或已损坏：{why}（四.4(4)要求画质清晰）。", file=p.name,
                    fix="文件可能在传输或压缩时被截断，请从原始相册重新导出这张照片后重新发送。")
    if not photos:
        yield _none("是否完整")
    elif not broken:
        yield Check(True, f"{len(photos)}张照片均能完整打开。")


@REGISTRY.rule(id="photo-dimensions", clause="四.4(4)", severity=Severity.REJECT, title="照片像素尺寸",
               params={"min_long_edge": (int, 0), "min_short_edge": (int, 0)})
def photo_dimensions(facts: SubmissionFacts, params: Params) -> Iterator[Check]:
    long_min, short_min = params["min_long_edge"], params["min_short_edge"]
    photos = [p for p in _photos(facts) if p.image is not None and p.image.width and p.image.height]
    failed = False
    for p in photos:
        assert p.image is not None and p.image.width and p.image.height
        w, h = p.image.width, p.image.height
        if w * h and (max(w, h) < long_min or min(w, h) < short_min):
            failed = True
            need = "、".join(x for x in (f"长边不低于{long_min}像素" if long_min else "",
                                          f"短边不低于{short_min}像素" if short_min else "") if x)
            yield Check(False, f"照片{quoted(p.name)}为{w}×{h}像素，要求{need}。", file=p.name,
                        evidence={"width": w, "height": h, "min_long_edge": long_min, "min_short_edge": short_min},
                        fix="请提供相机或手机拍摄的原图（不要截图或缩小尺寸）后重新发送。")
    if not photos:
        yield _none("像素尺寸")
    elif not failed:
        yield Check(True, f"{len(photos)}张照片的像素尺寸均符合要求。")


# --- captions (文字说明) ------------------------------------------------------------------------------------------

# Camera/phone/messenger names and numbering carry no caption: IMG_20251103_101512, DSC0042, mmexport1699…, 微信图片_…
_GENERIC = re.compile(r"(?i)(img|dsc|dcim|pxl|mmexport|wx_camera|microsoftteams-image|screenshot|image|photo|pic|"
                      r"微信图片|屏幕截图|截图|照片|图片|相片|图|附图|配图|jpe?g|png|副本|copy|\d+)")
_NUMBER = re.compile(r"(?:图|照片|图片|附图|相片|photo|pic)?\s*(\d{1,3})(?!\d)", re.IGNORECASE)


def _caption_in_name(p: FileFacts, min_chars: int) -> str | None:
    stem = p.base_name.rsplit(".", 1)[0]
    rest = normalise(_GENERIC.sub("", stem))
    return stem if len(rest) >= min_chars else None


def _labels(p: FileFacts) -> list[str]:
    """How a caption list may refer to this photo: its file name, its stem, "图3"/"照片3"/"图片3"."""
    stem = p.base_name.rsplit(".", 1)[0]
    labels = [normalise(p.base_name), normalise(stem)] if len(normalise(stem)) >= 3 else []
    m = _NUMBER.search(stem)
    if m:
        n = int(m.group(1))
        labels += [f"图{n}", f"照片{n}", f"图片{n}", f"附图{n}", f"图{_CN_DIGITS.get(n, '')}"]
    return [x for x in labels if x and not x.endswith("图")]


_CN_DIGITS = {1: "一", 2: "二", 3: "三", 4: "四", 5: "五", 6: "六", 7: "七", 8: "八", 9: "九", 10: "十"}


def _caption_in(p: FileFacts, text: str, min_chars: int) -> bool:
    """A line of ``text`` names this photo (file name, stem or "图3") and says something more about it."""
    for line in text.splitlines():
        flat = normalise(line)
        for label in _labels(p):
            at = flat.find(label)
            if at < 0 or (label[-1].isdigit() and flat[at + len(label):][:1].isdigit()):  # "图1" is not "图12"
                continue
            if len(flat) - len(label) >= min_chars:
                return True
    return False


@REGISTRY.rule(id="photo-caption", clause="四.4(4)", severity=Severity.WARN, title="照片文字说明",
               params={"min_chars": (int, 4), "caption_file_words": (list[str], ["说明", "图注", "题注", "标注"])})
def photo_caption(facts: SubmissionFacts, params: Params) -> Iterator[Check]:
    min_chars = params["min_chars"]
    photos = _photos(facts)
    docs = [f for f in facts.files if f.role != FileRole.PHOTO and f.text]
    caption_files = [d for d in docs if any(w in d.base_name for w in params["caption_file_words"])]
    texts = [d for d in docs if d.role == FileRole.TEXT and d not in caption_files]
    sources: dict[str, int] = {}
    missing: list[FileFacts] = []
    for p in photos:
        if _caption_in_name(p, min_chars):
            source = "文件名"
        elif any(_caption_in(p, d.text, min_chars) for d in caption_files):
            source = "图片说明文件"
        elif any(_caption_in(p, d.text, min_chars) for d in texts):
            source = "文字材料"
        elif _caption_in(p, facts.body_text, min_chars):
            source = "邮件正文"
        else:
            missing.append(p)
            continue
        sources[source] = sources.get(source, 0) + 1
    for p in missing:
        yield Check(False, f"照片{quoted(p.name)}未找到文字说明（文件名、图片说明文件和文字材料中都没有）（四.4(4)）。",
                    file=p.name, evidence={"sources_searched": "文件名,图片说明文件,文字材料,邮件正文"},
                    fix="请给每张照片配文字说明：可直接用说明文字作文件名（如“图1：学生在劳动基地种植蔬菜.jpg”），"
                        "或另附一份“图片说明”文档逐张说明。")
    if not photos:
        yield _none("文字说明")
    elif not missing:
        found = "，".join(f"{k}{v}张" for k, v in sources.items())
        yield Check(True, f"{len(photos)}张照片均有文字说明（来自{found}）。", evidence=dict(sources))



@REGISTRY.rule(id="cover-image", clause="四.4(5)", severity=Severity.REJECT, title="音视频封面图片",
               params={"with_roles": (list[str], [FileRole.VIDEO, FileRole.AUDIO]), "name_words": (list[str], ["封面"]),
                       "requirement": (str, ""), "form_text_min_words": (int, 0)})
def cover_image(facts: SubmissionFacts, params: Params) -> Iterator[Check]:
    """A video or audio case comes with its cover picture (Xinhua 2024 五(二)5). Its format, size and long edge are
    the photo rules' (every photo is held to them). A picture not named as the cover is taken as the cover, with a
    warning: the call can be read either way."""
    media = [r for r in params["with_roles"] if facts.role_count(r)]  # a video sent as a link is a video case too
    if not media:
        yield Check(True, "本案例不含音视频，无需封面图片。")
        return
    # A video sent with a text case illustrates it (五(二)4 "附上图片或视频"): the case is a text case.
    if facts.with_role(FileRole.TEXT) or case_in_form(facts, params["form_text_min_words"]):
        yield Check(True, "本案例为文本案例，所附音视频无需单独的封面图片。")
        return
    photos = _photos(facts)
    what = "、".join(FileRole.label_of(r) for r in media)
    named = [p for p in photos if any(w in p.base_name for w in params["name_words"])]
    if named:
        yield Check(True, f"已附{what}案例的封面图片{quoted(named[0].name)}。", file=named[0].name)
    elif photos:
        yield Check(False, f"{what}案例未注明哪张是封面图片，暂以{quoted(photos[0].name)}作为封面。", file=photos[0].name,
                    milder=Severity.WARN, fix="请在封面图片的文件名中注明“封面”。")
    else:
        need = f"（{params['requirement']}）" if params["requirement"] else ""
        yield Check(False, f"{what}案例未附封面图片{need}。",
                    fix="请补充一张封面图片（文件名注明“封面”）后重新发送。")
