"""Realistic sample submissions for the demo, the end-to-end tests and the benchmarks.

Every file is real (python-docx, Pillow, ffmpeg, zipfile/py7zr) and every mail is encoded the way a
Chinese mail client encodes it (``ingest.samples.mails``), so the whole pipeline runs on what schools send.
"""

from __future__ import annotations

import tempfile
from datetime import datetime, timedelta, timezone
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import libarchive

from ingest.samples import files as samples
from ingest.samples.mails import Attachment, build_mail

MAILBOX = "jcjyzj2025@163.com"
# Sample mail arrives three weeks before the 2025 call's deadline (2025-12-10), Beijing time.
RECEIVED = datetime(2025, 11, 20, 9, 30, tzinfo=timezone(timedelta(hours=8)))


@dataclass(frozen=True)
class SchoolCase:
    """A school's case for generated submissions: where it is, what it is called, its category."""

    province: str
    city: str
    school: str
    case_name: str
    category_no: int
    category: str
    sender: str
    style: str = "163"

    @property
    def subject(self) -> str:
        """The subject line as the call asks for it (province/school + case name + category)."""
        return f"{self.province}/{self.city}{self.school}{self.case_name}+{self.category}"


SCHOOLS: tuple[SchoolCase, ...] = (
    SchoolCase("浙江省", "杭州市", "文三街小学", "“AI+劳动”课程群建设", 6, "人工智能教育", "wsj@163.com", "163"),
    SchoolCase("江苏省", "常州市", "局前街小学", "家校社协同育人“三位一体”机制", 7, "体制机制改革", "jqj@qq.com", "qq"),
    SchoolCase("四川省", "成都市", "石室中学", "县中托管帮扶振兴计划", 4, "基础教育扩优提质", "sszx@126.com", "foxmail"),
    SchoolCase("福建省", "三明市", "列东中学", "大思政课实践基地建设", 1, "思政课改革创新", "ld@163.com", "raw8bit"),
    SchoolCase("山东省", "潍坊市", "诸城市实验小学", "劳动教育“五育融合”课程", 3, "“五育并举”育人", "zc@sina.com", "utf8"),
    SchoolCase("湖北省", "宜昌市", "夷陵中学", "青年教师成长共同体", 10, "教师队伍建设", "yl@163.com", "163"),
    SchoolCase("安徽省", "铜陵市", "第一中学", "中小学书记校长能力提升工程", 8, "基础教育规范管理", "tl@qq.com", "qq"),
    SchoolCase("河北省", "廊坊市", "第四中学", "特殊教育融合保障机制", 9, "基础教育条件保障", "lf@163.com", "163"),
)


def _files(case: SchoolCase, workdir: Path, *, photos: int, photo_bytes: int, video_seconds: float | None,
           with_pdf: bool = True, text_chars: int = 2400, text_kind: str = "docx") -> list[Path]:
    out: list[Path] = []
    form = workdir / f"{case.school}申报表.docx"
    samples.make_form_docx(form, {"申报单位": f"{case.province}{case.city}{case.school}", "案例名称": case.case_name,
                                  "类别": case.category, "联系人": "王老师", "联系电话": "13800000000"})
    out.append(form)
    if with_pdf:
        pdf = workdir / f"{case.school}申报表（盖章）.pdf"
        samples.make_scanned_pdf(pdf, with_seal=True)
        out.append(pdf)
    out.append(_text_file(workdir / f"{case.case_name}文字材料.docx", text_chars, text_kind))
    for i in range(1, photos + 1):
        p = workdir / f"图{i}：{case.school}学生活动现场.jpg"
        samples.make_jpeg(p, photo_bytes)
        out.append(p)
    if video_seconds:
        v = workdir / f"{case.school}案例视频.mp4"
        samples.make_mp4(v, video_seconds, 1280, 720)
        out.append(v)
    return out


TEXT_KINDS = ("docx", "doc", "rtf", "wps", "textbox")


def _text_file(docx: Path, chars: int, kind: str) -> Path:
    """The text material as ``kind``: "doc"/"rtf" saved from the DOCX by LibreOffice; "wps" is that .doc renamed
    .wps (WPS Office's own .wps is a Word-compatible OLE file; no tool here writes one, and a .doc renamed .wps is
    what many WPS users send); "textbox" is a DOCX of ``chars - 65`` 字 plus a 65-字 text box."""
    if kind == "textbox":
        box = "本案例由学校课程中心牵头实施，覆盖全校三十六个教学班，参与教师八十余人，相关成果已在区域内推广应用。" * 2
        return samples.make_textbox_docx(docx, chars - 65, box[:65])
    samples.make_text_docx(docx, chars)
    if kind == "docx":
        return docx
    made = samples.libreoffice_convert(docx, "rtf" if kind == "rtf" else "doc", docx.parent / "legacy")
    docx.unlink()
    target = docx.with_suffix(f".{kind}")
    made.rename(target)
    return target


def zip_gbk(files: Sequence[Path], folder: str) -> bytes:
    """A ZIP as Chinese Windows makes it: GBK (CP936) names, no UTF-8 flag. libarchive converts the names;
    the stdlib zipfile cannot (it writes any non-ASCII name as UTF-8 with the flag set)."""
    with tempfile.TemporaryDirectory(prefix="intake-zip-") as tmp:
        target = Path(tmp) / "out.zip"
        with libarchive.file_writer(str(target), "zip", options="hdrcharset=CP936") as archive:
            for f in files:
                data = f.read_bytes()
                archive.add_file_from_memory(f"{folder}/{f.name}", len(data), data)
        return target.read_bytes()


def submission_mail(case: SchoolCase, *, photos: int = 3, photo_bytes: int = 2_200_000,
                    video_seconds: float | None = 4.0, packed: bool = True, with_pdf: bool = True,
                    text_chars: int = 2400, subject: str | None = None, message_id: str | None = None,
                    received_at: datetime | None = RECEIVED, text_kind: str = "docx") -> bytes:
    """One submission mail; ``packed`` puts the files in a GBK-named ZIP (打包, seed 000 四.3)."""
    with tempfile.TemporaryDirectory(prefix="intake-sample-") as tmp:
        files = _files(case, Path(tmp), photos=photos, photo_bytes=photo_bytes, video_seconds=video_seconds,
                       with_pdf=with_pdf, text_chars=text_chars, text_kind=text_kind)
        if packed:
            attachments = [Attachment(f"{case.school}-{case.case_name}.zip", zip_gbk(files, case.school),
                                      "application/zip")]
        else:
            attachments = [Attachment.from_file(f) for f in files]
        return build_mail(style=case.style, sender=case.sender, sender_name=case.school, to=MAILBOX,
                          subject=subject or case.subject, body=f"您好！附件为{case.school}申报材料，请查收。",
                          attachments=attachments, message_id=message_id, received_at=received_at)
