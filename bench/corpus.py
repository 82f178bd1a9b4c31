"""A backlog of realistic submissions for the benches, and loading it into a Dovecot on loopback.

Each submission is what a school sends for the 2025 call: the application form as DOCX and as a scanned,
sealed PDF, the text material (DOCX), 4–8 JPEG photos of 2–4 MB, for some a 720p H.264 MP4 of 1–5 minutes,
sent loose or packed in a GBK-named ZIP (Windows' "send to compressed folder") or a 7z (LZMA2), in mails
encoded as 163 (GBK), QQ Mail (GB18030), Foxmail (GB2312 labels) or a UTF-8 client.

Photos and videos are expensive to make (a JPEG ~1.4 s, a 5-minute video ~25 s), so a pool of each is
made once (cached) and every submission gets its own copy made distinct the way tools do it: a JPEG
comment segment (COM, as exiftool or a phone's editor writes) and an ISO-BMFF ``free`` box at the end of
the MP4. Every file of every submission therefore has its own bytes (the duplicate rule sees no copies)
while staying a valid, decodable file. RAR cannot be written on this machine (no rar tool; the RAR
samples under shared/corpus/libarchive hold a few bytes each, nothing like a submission), so the
"archive other than ZIP" share is 7z.

    python3 bench/corpus.py --count 200             # make (or reuse) 200 mails, print the mix
    python3 bench/corpus.py --count 200 --load      # also APPEND them to a Dovecot and time it
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import struct
import subprocess
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

from common import MB, DovecotServer, base_parser, table, write_results

import imageio_ffmpeg
import libarchive

from ingest.samples import files as samples
from ingest.samples.mails import Attachment, build_mail
from ingest.samples.submissions import MAILBOX, RECEIVED, SchoolCase, zip_gbk

DEFAULT_CACHE = Path(os.environ.get("INTAKE_BENCH_CACHE", "/var/tmp/case-intake-bench"))

# Province/city pairs the gazetteer knows, and words for school and case names.
PLACES = (("浙江省", "杭州市"), ("江苏省", "常州市"), ("四川省", "成都市"), ("福建省", "三明市"), ("山东省", "潍坊市"),
          ("湖北省", "宜昌市"), ("安徽省", "铜陵市"), ("河北省", "廊坊市"), ("广东省", "深圳市"), ("河南省", "郑州市"),
          ("湖南省", "长沙市"), ("陕西省", "西安市"), ("江西省", "赣州市"), ("云南省", "昆明市"))
SCHOOL_WORDS = ("育才", "明德", "启明", "新华", "弘文", "博雅", "致远", "求是", "崇德", "树人", "百花", "青松")
SCHOOL_KINDS = ("小学", "中学", "实验学校", "外国语学校", "第一中学", "实验小学")
TOPICS = ("劳动教育课程群", "大思政课实践基地", "人工智能校本课程", "家校社协同育人机制", "青年教师成长共同体",
          "县域教研联盟", "科学教育实验室", "阅读素养提升工程", "心理健康教育体系", "体育美育融合课程")
APPROACHES = ("建设与实践", "的探索", "创新实践", "的构建与实施", "推进路径", "十年探索", "校本化实施",
              "区域推进", "数字化转型", "协同育人模式")
# (category no, name) from the 2025 call.
CATEGORIES = ((1, "思政课改革创新"), (2, "党建德育工作"), (3, "“五育并举”育人"), (4, "基础教育扩优提质"),
              (5, "教育教学改革"), (6, "人工智能教育"), (7, "体制机制改革"), (8, "基础教育规范管理"),
              (9, "基础教育条件保障"), (10, "教师队伍建设"))
STYLE_DOMAINS = {"163": "163.com", "qq": "qq.com", "foxmail": "qq.com", "utf8": "126.com", "raw8bit": "sina.com"}


@dataclass(frozen=True)
class Mix:
    """What the backlog is made of. Shares are of all submissions; the rest of ``packing`` is loose files."""

    photos: tuple[int, int] = (4, 8)
    photo_mb: tuple[float, float] = (2.0, 4.0)
    video_share: float = 0.3
    video_minutes: tuple[int, int] = (1, 5)
    video_kbps: int = 700
    # Seconds per "minute" of video: 60, except in smoke runs, where a 5-second clip stands in for a minute.
    video_unit_seconds: int = 60
    zip_share: float = 0.35
    sevenz_share: float = 0.1
    # Mail styles in proportion: GBK/GB18030/GB2312 subjects (163, QQ, Foxmail) and UTF-8.
    styles: tuple[str, ...] = ("163", "163", "qq", "foxmail", "utf8", "utf8")
    photo_pool: int = 12
    seed: int = 2025

    @classmethod
    def small(cls) -> Mix:
        """Seconds to make: small photos and a short video (the photo-size rule will reject them; fine)."""
        return cls(photos=(2, 3), photo_mb=(0.1, 0.2), video_share=0.5, video_minutes=(1, 1), video_kbps=100,
                   video_unit_seconds=5, zip_share=0.34, sevenz_share=0.33, photo_pool=3)

    def key(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:12]


@dataclass(frozen=True)
class CorpusMail:
    index: int
    path: Path
    size: int
    subject: str
    style: str
    packing: str
    photos: int
    video_seconds: int
    sender: str
    message_id: str
    attachment_bytes: int = 0
    extra: dict[str, str] = field(default_factory=dict)


# ---- distinct copies of pooled media ---------------------------------------------------------------------------

def distinct_jpeg(data: bytes, tag: str) -> bytes:
    """The JPEG with a comment segment (COM, FF FE) right after SOI: same picture, its own bytes."""
    if not data.startswith(b"\xff\xd8"):
        raise ValueError("not a JPEG")
    comment = f"case-intake bench {tag}".encode()
    return data[:2] + b"\xff\xfe" + struct.pack(">H", len(comment) + 2) + comment + data[2:]


def distinct_mp4(data: bytes, tag: str) -> bytes:
    """The MP4 with a top-level ``free`` box appended (ISO/IEC 14496-12 lets readers skip it)."""
    payload = f"case-intake bench {tag}".encode()
    return data + struct.pack(">I", len(payload) + 8) + b"free" + payload


def _photo_pool(cache: Path, mix: Mix) -> list[Path]:
    rng = random.Random(mix.seed)
    out = []
    for i in range(mix.photo_pool):
        path = cache / "pool" / f"photo-{i:02d}-{mix.photo_mb[0]}-{mix.photo_mb[1]}.jpg"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            target = int(rng.uniform(*mix.photo_mb) * MB)
            tmp = path.with_suffix(".tmp.jpg")
            samples.make_jpeg(tmp, target, seed=mix.seed * 1000 + i)
            tmp.rename(path)
        else:
            rng.uniform(*mix.photo_mb)
        out.append(path)
    return out


def make_video(path: Path, seconds: int, kbps: int) -> Path:
    """A 1280×720 H.264 MP4 at a phone-export bitrate: moving test pattern plus temporal noise, so the
    encoder really spends the bits (ffmpeg from the imageio-ffmpeg wheel)."""
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.mp4")
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi",
                    "-i", "testsrc2=size=1280x720:rate=15", "-vf", "noise=alls=12:allf=t", "-t", str(seconds),
                    "-c:v", "libx264", "-preset", "ultrafast", "-b:v", f"{kbps}k", "-maxrate", f"{kbps}k",
                    "-bufsize", f"{2 * kbps}k", "-pix_fmt", "yuv420p", "-movflags", "+faststart", str(tmp)],
                   check=True, timeout=900)
    tmp.rename(path)
    return path


def _video_path(cache: Path, minutes: int, mix: Mix) -> Path:
    return cache / "pool" / f"video-{minutes * mix.video_unit_seconds}s-{mix.video_kbps}k.mp4"


# ---- one submission ----------------------------------------------------------------------------------------------

def school_case(index: int, mix: Mix) -> SchoolCase:
    rng = random.Random(mix.seed * 7919 + index)
    province, city = PLACES[index % len(PLACES)]
    school = f"{SCHOOL_WORDS[(index // len(PLACES)) % len(SCHOOL_WORDS)]}{SCHOOL_KINDS[index % len(SCHOOL_KINDS)]}"
    if index >= len(PLACES) * len(SCHOOL_WORDS):
        school = f"第{index // (len(PLACES) * len(SCHOOL_WORDS)) + 1}{school}"
    topic = TOPICS[index % len(TOPICS)]
    approach = APPROACHES[(index // len(TOPICS)) % len(APPROACHES)]
    no, category = CATEGORIES[rng.randrange(len(CATEGORIES))]
    style = mix.styles[rng.randrange(len(mix.styles))]
    sender = f"s{index:05d}@{STYLE_DOMAINS[style]}"
    return SchoolCase(province, city, school, f"{topic}{approach}", no, category, sender, style)


def _packing(rng: random.Random, mix: Mix) -> str:
    roll = rng.random()
    return "zip" if roll < mix.zip_share else "7z" if roll < mix.zip_share + mix.sevenz_share else "loose"


def _seven_zip(files: Sequence[tuple[str, bytes]], folder: str) -> bytes:
    """A 7z as 7-Zip makes it by default (LZMA2); names are Unicode in 7z, so no charset question."""
    with tempfile.TemporaryDirectory(prefix="bench-7z-") as tmp:
        target = Path(tmp) / "out.7z"
        with libarchive.file_writer(str(target), "7zip", options="compression=lzma2,compression-level=1") as ar:
            for name, data in files:
                ar.add_file_from_memory(f"{folder}/{name}", len(data), data)
        return target.read_bytes()


def make_submission(index: int, mix: Mix, cache: Path, out_dir: Path) -> CorpusMail:
    rng = random.Random(mix.seed * 104729 + index)
    case = school_case(index, mix)
    pool = _photo_pool(cache, mix)
    n_photos = rng.randint(*mix.photos)
    minutes = rng.randint(*mix.video_minutes) if rng.random() < mix.video_share else 0
    packing = _packing(rng, mix)
    files: list[tuple[str, bytes]] = []
    with tempfile.TemporaryDirectory(prefix="bench-sub-") as tmp:
        work = Path(tmp)
        form = samples.make_form_docx(work / "form.docx", {
            "申报单位": f"{case.province}{case.city}{case.school}", "案例名称": case.case_name,
            "类别": case.category, "联系人": "王老师", "联系电话": f"138{index:08d}"})
        files.append((f"{case.school}申报表.docx", form.read_bytes()))
        pdf = samples.make_scanned_pdf(work / "form.pdf", with_seal=True, seed=mix.seed + index)
        files.append((f"{case.school}申报表（盖章）.pdf", pdf.read_bytes()))
        samples.make_text_docx(work / "text.docx", rng.randint(1800, 2900), seed=mix.seed + index)
        files.append((f"{case.case_name}文字材料.docx", (work / "text.docx").read_bytes()))
    for i in range(1, n_photos + 1):
        base = pool[rng.randrange(len(pool))].read_bytes()
        files.append((f"图{i}：{case.school}学生活动现场.jpg", distinct_jpeg(base, f"{mix.key()}-{index}-{i}")))
    if minutes:
        base = _video_path(cache, minutes, mix).read_bytes()
        files.append((f"{case.school}案例视频.mp4", distinct_mp4(base, f"{mix.key()}-{index}")))
    if packing == "zip":
        with tempfile.TemporaryDirectory(prefix="bench-zip-") as tmp:
            paths = []
            for name, data in files:
                p = Path(tmp) / name
                p.write_bytes(data)
                paths.append(p)
            attachments = [Attachment(f"{case.school}-{case.case_name}.zip", zip_gbk(paths, case.school),
                                      "application/zip")]
    elif packing == "7z":
        attachments = [Attachment(f"{case.school}申报材料.7z", _seven_zip(files, case.school),
                                  "application/x-7z-compressed")]
    else:
        attachments = [Attachment(name, data) for name, data in files]
    message_id = f"<bench-{mix.key()}-{index}@{case.sender.partition('@')[2]}>"
    raw = build_mail(style=case.style, sender=case.sender, sender_name=case.school, to=MAILBOX,
                     subject=case.subject, body=f"您好！附件为{case.school}申报材料，请查收。", attachments=attachments,
                     message_id=message_id, received_at=RECEIVED)
    path = out_dir / f"{index:05d}.eml"
    tmp_path = path.with_suffix(".tmp")
    tmp_path.write_bytes(raw)
    tmp_path.rename(path)
    mail = CorpusMail(index=index, path=path, size=len(raw), subject=case.subject, style=case.style,
                      packing=packing, photos=n_photos, video_seconds=minutes * mix.video_unit_seconds, sender=case.sender,
                      message_id=message_id, attachment_bytes=sum(len(a.data) for a in attachments))
    path.with_suffix(".json").write_text(json.dumps({**asdict(mail), "path": str(path)}, ensure_ascii=False),
                                         encoding="utf-8")
    return mail


def _load_cached(path: Path) -> CorpusMail | None:
    meta = path.with_suffix(".json")
    if not (path.exists() and meta.exists()):
        return None
    data = json.loads(meta.read_text(encoding="utf-8"))
    data["path"] = path  # where it is now (a cache directory may have been moved)
    return CorpusMail(**data)


def build_corpus(count: int, mix: Mix, cache: Path = DEFAULT_CACHE, *, workers: int = 2) -> list[CorpusMail]:
    """``count`` submissions (indexes 0..count-1), made once per mix and reused from ``cache`` afterwards."""
    out_dir = cache / f"corpus-{mix.key()}"
    out_dir.mkdir(parents=True, exist_ok=True)
    _photo_pool(cache, mix)
    minutes_needed = range(mix.video_minutes[0], mix.video_minutes[1] + 1) if mix.video_share else range(0)
    for minutes in minutes_needed:
        make_video(_video_path(cache, minutes, mix), minutes * mix.video_unit_seconds, mix.video_kbps)
    mails: dict[int, CorpusMail] = {}
    missing = []
    for index in range(count):
        cached = _load_cached(out_dir / f"{index:05d}.eml")
        if cached is not None:
            mails[index] = cached
        else:
            missing.append(index)
    if missing:
        began = time.perf_counter()
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for mail in pool.map(make_submission, missing, [mix] * len(missing), [cache] * len(missing),
                                 [out_dir] * len(missing)):
                mails[mail.index] = mail
        print(f"made {len(missing)} submission mails in {time.perf_counter() - began:.0f} s ({out_dir})", flush=True)
    return [mails[i] for i in range(count)]


def load_into_dovecot(server: DovecotServer, user: str, mails: Sequence[CorpusMail]) -> float:
    """APPEND every mail to INBOX (INTERNALDATE before the call's deadline); returns the seconds it took."""
    began = time.perf_counter()
    with server.connect(user) as client:
        client._imap.debug = 0  # imapclient's debug=5 formats every literal (see bench/README.md)
        for mail in mails:
            client.append("INBOX", mail.path.read_bytes(), msg_time=RECEIVED)
    return time.perf_counter() - began


def describe(mails: Sequence[CorpusMail]) -> dict[str, object]:
    sizes = [m.size for m in mails]
    return {"mails": len(mails), "total_MB": round(sum(sizes) / MB, 1),
            "mean_MB": round(sum(sizes) / MB / max(1, len(mails)), 1),
            "max_MB": round(max(sizes, default=0) / MB, 1),
            "packing": {p: sum(m.packing == p for m in mails) for p in ("loose", "zip", "7z")},
            "styles": {s: sum(m.style == s for m in mails) for s in sorted({m.style for m in mails})},
            "with_video": sum(bool(m.video_seconds) for m in mails),
            "photos": sum(m.photos for m in mails)}


def main() -> int:
    parser = base_parser(__doc__)
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--load", action="store_true", help="APPEND the corpus to a Dovecot on loopback, timed")
    args = parser.parse_args()
    mix = Mix.small() if args.small else Mix()
    count = 3 if args.small else args.count
    cache = Path(tempfile.mkdtemp(prefix="bench-corpus-", dir=args.workdir)) if args.small else DEFAULT_CACHE
    began = time.perf_counter()
    mails = build_corpus(count, mix, cache)
    made = time.perf_counter() - began
    info = describe(mails)
    load_seconds = None
    if args.load:
        server = DovecotServer()
        server.start()
        try:
            load_seconds = load_into_dovecot(server, server.new_user(), mails)
        finally:
            server.cleanup()
    rows: list[tuple[str, object]] = [(k, json.dumps(v, ensure_ascii=False)) for k, v in info.items()]
    rows.append(("made or reused in s", round(made, 1)))
    if load_seconds is not None:
        rows.append(("APPEND to Dovecot, s", round(load_seconds, 1)))
        rows.append(("APPEND MB/s", round(float(info["total_MB"]) / load_seconds, 1)))  # type: ignore[arg-type]
    md = "\n".join([f"# Corpus: {count} submissions (mix {mix.key()})", "", *table(("what", "value"), rows)]) + "\n"
    write_results(args.results_dir, "corpus", {"mix": asdict(mix), "corpus": info, "make_seconds": made,
                                               "append_seconds": load_seconds,
                                               "mails": [{**asdict(m), "path": str(m.path)} for m in mails]}, md)
    if args.small:
        import shutil
        shutil.rmtree(cache, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
