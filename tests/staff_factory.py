"""Bulk generator of stored cases for the staff-tool tests and the bench.

Rows go in with SQLAlchemy Core executemany (explicit ids, so versions, files and findings link up
without round trips): 10,000 cases take a few seconds on SQLite and PostgreSQL. The generator
returns what it wrote as plain data, so tests compute the expected statistics from the generator's
own records, independently of the queries under test.
"""

from __future__ import annotations

import io
import os
import random
import shutil
import subprocess
import tempfile
import uuid
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator
from xml.sax.saxutils import escape as xml_escape

from sqlalchemy import create_engine, insert, text
from sqlalchemy.engine import Engine

from store.models import Attachment, Case, Finding, Message, Submission

CAMPAIGN_ID = "jcjy2025"
PREFIX = "JCJY2025"
PG_ADMIN_URL = os.environ.get("INTAKE_TEST_PG_ADMIN", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")

CATEGORIES = (
    (1, "思政课改革创新"), (2, "党建德育工作"), (3, "“五育并举”育人"), (4, "基础教育扩优提质"), (5, "教育教学改革"),
    (6, "人工智能教育"), (7, "体制机制改革"), (8, "基础教育规范管理"), (9, "基础教育条件保障"), (10, "教师队伍建设"),
)
PROVINCES = (
    ("北京市", "海淀区"), ("天津市", "南开区"), ("河北省", "石家庄市"), ("山西省", "太原市"), ("内蒙古自治区", "呼和浩特市"),
    ("辽宁省", "沈阳市"), ("吉林省", "长春市"), ("黑龙江省", "哈尔滨市"), ("上海市", "浦东新区"), ("江苏省", "南京市"),
    ("浙江省", "杭州市"), ("安徽省", "合肥市"), ("福建省", "福州市"), ("江西省", "南昌市"), ("山东省", "济南市"),
    ("河南省", "郑州市"), ("湖北省", "武汉市"), ("湖南省", "长沙市"), ("广东省", "广州市"), ("广西壮族自治区", "南宁市"),
    ("海南省", "海口市"), ("重庆市", "渝中区"), ("四川省", "成都市"), ("贵州省", "贵阳市"), ("云南省", "昆明市"),
    ("西藏自治区", "拉萨市"), ("陕西省", "西安市"), ("甘肃省", "兰州市"), ("青海省", "西宁市"), ("宁夏回族自治区", "银川市"),
    ("新疆维吾尔自治区", "乌鲁木齐市"), ("新疆生产建设兵团", "石河子市"),
)
# (rule, clause, severity, message template)
RULES = (
    ("form.both_versions", "四.3", "reject", "缺少 PDF 版申报表"),
    ("form.seal", "四.4(1)", "warn", "PDF 申报表未检测到单位公章"),
    ("text.word_count", "四.4(3)", "warn", "文字材料 {n} 字，超过 3000 字"),
    ("photo.max_count", "四.4(4)", "reject", "图片 {n} 张，超过 8 张"),
    ("photo.min_size", "四.4(4)", "reject", "照片“活动{n}.jpg”小于 2 MB"),
    ("video.max_duration", "四.4(5)", "reject", "视频时长 {n} 秒，超过 6 分钟"),
    ("deadline", "四.1", "reject", "收件时间晚于 2025年12月10日 截止时间"),
)
SCHOOL_WORDS = ("实验小学", "第一中学", "外国语学校", "中心幼儿园", "特殊教育学校", "第二初级中学", "教育局", "师范附属小学")
TOPICS = ("AI+劳动课程群建设", "大思政课一体化实践", "县中振兴行动", "双减背景下的作业设计", "家校社协同育人",
          "书香校园读书行动", "教师数字素养提升", "心理健康教育体系", "小班化教学改革", "科学高中建设探索")
OVERRIDE_REASON = "专家组复核后改判"


@dataclass(frozen=True)
class GeneratedCase:
    id: int
    case_no: str
    submitter_kind: str | None
    province: str | None
    city: str | None
    organization: str | None
    case_name: str | None
    category_no: int | None
    category: str | None
    status: str
    override_status: str | None
    first_received_at: datetime
    current_version: int
    photos: int  # photos of the current version
    video_seconds: float | None
    failed: tuple[tuple[str, str, str, str], ...]  # (rule, clause, severity, message) of the current version
    older_failed: tuple[tuple[str, str, str, str], ...] = ()  # of version 1 when the case has two
    files: tuple[tuple[str, str | None], ...] = ()  # (original name, stored path) of the current version

    @property
    def effective_status(self) -> str:
        return self.override_status or self.status


@dataclass(frozen=True)
class GeneratedData:
    campaign_id: str
    cases: tuple[GeneratedCase, ...]
    rows: dict[str, int] = field(default_factory=dict)  # table → rows inserted


def _status_for(failed: list[tuple[str, str, str, str]], needs_review: bool) -> str:
    if needs_review:
        return "needs_review"
    if any(sev == "reject" for _, _, sev, _ in failed):
        return "rejected"
    if failed:
        return "accepted_with_warnings"
    return "accepted"


def _failed(rng: random.Random) -> list[tuple[str, str, str, str]]:
    chosen = rng.sample(RULES, k=rng.choice((0, 0, 0, 1, 1, 2, 3)))
    return [(r, c, s, m.format(n=rng.randint(1, 9))) for r, c, s, m in chosen]


class _Writer:
    """Accumulates rows per table with explicit ids, then inserts each table in one executemany."""

    def __init__(self, campaign_id: str) -> None:
        self.campaign_id = campaign_id
        self.messages: list[dict[str, Any]] = []
        self.cases: list[dict[str, Any]] = []
        self.submissions: list[dict[str, Any]] = []
        self.attachments: list[dict[str, Any]] = []
        self.findings: list[dict[str, Any]] = []

    def submission(self, case_id: int, version: int, received: datetime, status: str, subject: str) -> int:
        sid = len(self.submissions) + 1
        self.messages.append({
            "id": sid, "campaign_id": self.campaign_id, "account": "jcjyzj2025@163.com", "folder": "INBOX", "uidvalidity": 1, "uid": sid,
            "message_id": f"<m{sid}@example.cn>", "sha256": f"{sid:064x}", "size": 1000 + sid,
            "spool_path": f"/spool/{sid}.eml", "internaldate": received, "from_addr": f"s{case_id}@example.cn",
            "subject": subject, "status": "notified", "defects": [],
        })
        self.submissions.append({"id": sid, "case_id": case_id, "version": version, "message_row_id": sid,
                                 "received_at": received, "raw_subject": subject, "status": status})
        return sid

    def attachment(self, sid: int, name: str, role: str, facts: dict[str, Any], path: str | None,
                   size: int = 3_000_000, kind: str = "file") -> None:
        aid = len(self.attachments) + 1
        self.attachments.append({"id": aid, "submission_id": sid, "name": name, "role": role, "size": size,
                                 "sha256": f"{aid:064x}", "stored_path": path, "archive": None, "kind": kind,
                                 "url": None, "expires_at": None, "facts": facts})

    def finding(self, sid: int, rule: str, clause: str, severity: str, passed: bool, message: str) -> None:
        self.findings.append({"id": len(self.findings) + 1, "submission_id": sid, "rule": rule, "clause": clause,
                              "severity": severity, "passed": passed, "message": message, "fix": "", "file": None,
                              "evidence": {}})

    def flush(self, engine: Engine) -> dict[str, int]:
        tables = ((Message, self.messages), (Case, self.cases), (Submission, self.submissions),
                  (Attachment, self.attachments), (Finding, self.findings))
        with engine.begin() as conn:
            for model, rows in tables:
                for i in range(0, len(rows), 5000):
                    conn.execute(insert(model), rows[i:i + 5000])
            if engine.dialect.name == "postgresql":
                # Explicit ids do not advance PostgreSQL sequences; later ORM inserts must not collide.
                for model, rows in tables:
                    if rows:
                        name = model.__tablename__
                        conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                                          f"(SELECT max(id) FROM {name}))"))
        return {model.__tablename__: len(rows) for model, rows in tables}


def _video_facts(seconds: float) -> dict[str, Any]:
    # The shape ingest.pipeline.replies stores: asdict(FileFacts) with the video part filled in.
    return {"name": "视频.mp4", "role": "video", "image": None, "audio": None, "doc": None, "pdf": None,
            "error": None, "video": {"container": "MPEG-4", "duration_s": seconds, "width": 1920, "height": 1080,
                                     "display_aspect": 1.778, "rotation_deg": 0}}


def fill_cases(engine: Engine, n: int, *, seed: int = 7, campaign_id: str = CAMPAIGN_ID,
               start: datetime = datetime(2025, 9, 1, tzinfo=timezone.utc), days: int = 60,
               files: FileMaker | None = None) -> GeneratedData:
    """Write `n` cases (about 3% provincial recommendations, so some provinces are over the quota and some not; a fifth with two versions, some
    unparsed, some overridden by staff) and return what was written."""
    rng = random.Random(seed)
    w = _Writer(campaign_id)
    generated: list[GeneratedCase] = []
    statuses = ("accepted", "accepted_with_warnings", "rejected", "needs_review")
    for case_id in range(1, n + 1):
        kind = "province" if rng.random() < 0.03 else "unit"
        province: str | None
        province, city = rng.choice(PROVINCES)
        city_or_none: str | None = None if kind == "province" else city
        org = f"{province}教育厅" if kind == "province" else f"{city}{rng.choice(SCHOOL_WORDS)}"
        cat_no: int | None
        cat: str | None
        cat_no, cat = rng.choice(CATEGORIES)
        name = f"{rng.choice(TOPICS)}{case_id}"
        unparsed = rng.random() < 0.03
        if unparsed:
            province = None
            city_or_none = None
            cat_no, cat = None, None
        seconds = rng.uniform(0, days * 86400)
        if kind == "province":  # whole hours: ties in arrival time, broken by case id
            seconds -= seconds % 3600
        first = start + timedelta(seconds=int(seconds))
        versions = 2 if rng.random() < 0.2 else 1
        older: list[tuple[str, str, str, str]] = []
        current_files: list[tuple[str, str | None]] = []
        photos = 0
        video: float | None = None
        failed: list[tuple[str, str, str, str]] = []
        status = "accepted"
        for version in range(1, versions + 1):
            received = first + timedelta(days=version - 1, minutes=7 * (version - 1))
            failed = _failed(rng)
            status = _status_for(failed, unparsed)
            subject = f"{province or ''}/{org}{name}+{cat or ''}"
            sid = w.submission(case_id, version, received, status, subject)
            photos = rng.randint(0, 10)
            video = round(rng.uniform(20, 420), 2) if rng.random() < 0.6 else None
            names = ["申报表.docx", "申报表.pdf", "文字材料.docx"] + [f"照片/活动{i + 1}.jpg" for i in range(photos)]
            names += ["视频.mp4"] if video is not None else []
            roles = ["form_word", "form_pdf", "text"] + ["photo"] * photos + (["video"] if video is not None else [])
            current_files = []
            for fname, role in zip(names, roles):
                path = files.make(case_id, version, fname, role) if files is not None else None
                facts = _video_facts(video) if role == "video" and video is not None else {"role": role}
                w.attachment(sid, fname, role, facts, path)
                current_files.append((fname, path))
            if rng.random() < 0.1:  # a 163 超大附件 link is not a file and is never exported
                w.attachment(sid, "补充视频.mp4", "link", {}, None, size=0, kind="link")
            for rule, clause, sev, message in failed:
                w.finding(sid, rule, clause, sev, False, message)
            for rule, clause, sev, _ in RULES[:2]:
                if rule not in {f[0] for f in failed}:
                    w.finding(sid, rule, clause, sev, True, "符合要求")
            if version == 1 and versions == 2:
                older = failed
        override = rng.choice([s for s in statuses if s != status]) if rng.random() < 0.03 else None
        w.cases.append({
            "id": case_id, "campaign_id": campaign_id, "case_no": f"{PREFIX}-{case_id:06d}",
            "sender": f"s{case_id}@example.cn", "submitter_kind": None if unparsed else kind, "province": province,
            "city": city_or_none, "organization": org, "case_name": name, "category_no": cat_no, "category": cat,
            "part": None, "subject_confidence": 0.5 if unparsed else 0.95, "subject_reasons": [],
            "status": status, "override_status": override,
            "override_reason": OVERRIDE_REASON if override else None, "current_version": versions,
            "first_received_at": first, "last_received_at": first + timedelta(days=versions - 1),
        })
        generated.append(GeneratedCase(
            id=case_id, case_no=f"{PREFIX}-{case_id:06d}", submitter_kind=None if unparsed else kind,
            province=province, city=city_or_none, organization=org, case_name=name, category_no=cat_no,
            category=cat, status=status, override_status=override, first_received_at=first,
            current_version=versions, photos=photos, video_seconds=video, failed=tuple(failed),
            older_failed=tuple(older), files=tuple(current_files)))
    rows = w.flush(engine)
    return GeneratedData(campaign_id, tuple(generated), rows)


_DOCX_PLACEHOLDER = "@@TEXT@@"


class FileMaker:
    """Writes real files for generated attachments (Pillow JPEG, python-docx DOCX, reportlab PDF,
    ffmpeg MP4), for the file-bundle export. Only for small case counts."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._video: Path | None = None
        self._docx_parts: list[tuple[zipfile.ZipInfo, bytes]] | None = None
        self._count = 0

    def make(self, case_id: int, version: int, name: str, role: str) -> str:
        self._count += 1
        # Stored names are opaque, as in the spool: the export must restore the original names.
        target = self.root / f"c{case_id}" / f"v{version}" / f"part{self._count:05d}{Path(name).suffix}"
        target.parent.mkdir(parents=True, exist_ok=True)
        if role == "photo":
            from PIL import Image

            Image.new("RGB", (64, 48), ((case_id * 37) % 256, (version * 91) % 256, len(name) * 13 % 256)).save(
                target, "JPEG", quality=90)
        elif role == "form_pdf":
            from reportlab.lib.pagesizes import A4
            from reportlab.pdfgen import canvas

            c = canvas.Canvas(str(target), pagesize=A4)
            c.drawString(72, 760, f"case {case_id} form v{version}")
            c.save()
        elif role == "video":
            shutil.copyfile(self._sample_video(), target)
        else:
            self._docx(target, f"案例 {case_id} 第 {version} 版：{name}")
        return str(target)

    def _docx(self, target: Path, text: str) -> None:
        """A real DOCX holding ``text``: python-docx writes one document per maker, each file is that package
        with its own paragraph (python-docx's open and save of its template took ~45 ms a file, most of the
        time of a fill with files)."""
        if self._docx_parts is None:
            import docx

            doc = docx.Document()
            doc.add_paragraph(_DOCX_PLACEHOLDER)
            buf = io.BytesIO()
            doc.save(buf)
            with zipfile.ZipFile(buf) as z:
                self._docx_parts = [(info, z.read(info)) for info in z.infolist()]
        with zipfile.ZipFile(target, "w") as out:
            for info, data in self._docx_parts:
                if info.filename == "word/document.xml":
                    data = data.replace(_DOCX_PLACEHOLDER.encode(), xml_escape(text).encode())
                out.writestr(info, data)

    def _sample_video(self) -> Path:
        if self._video is None:
            import imageio_ffmpeg

            out = self.root / "sample.mp4"
            subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                            "testsrc=size=320x180:rate=10", "-t", "1", "-pix_fmt", "yuv420p", str(out)], check=True)
            self._video = out
        return self._video


@contextmanager
def fresh_database(backend: str) -> Iterator[str]:
    """A URL of a new, empty database (SQLite file or PostgreSQL database), dropped afterwards."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite:///{tmp}/intake.db"
        return
    name = f"staff_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
