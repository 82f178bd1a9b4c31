"""Issue 16 §1 and §5 end to end, through the real Dovecot, the real CLI (`intake poll --once`, `intake attach`,
`intake health`), the real SMTP sink, the console's own wiring and a real HTTP server on loopback, on SQLite and
PostgreSQL. One mail per shape, as the webmails and clients write them:

* 163 webmail: the video as a 超大附件 link (``divNeteaseBigAttach``), the rest zipped with GBK names;
* QQ Mail: the video through 文件中转站 (``bigatt_bt``), files attached loose;
* Foxmail: a 163 link pasted by a Foxmail user, downloaded automatically from the loopback server;
* Outlook: a link whose download redirects off the allowed hosts (falls back to the warning); and five photos
  attached twice with a scanned certificate among them;
* QQ Mail: the same ZIP attached twice;
* 163 webmail: a newspaper clipping and a scanned 奖状 (said by its Windows file properties) among the photos;
* Foxmail: the photos attached loose and again inside the ZIP.

With INTAKE_WRITE_RECEIPTS=1 the 163 case's receipt is written to docs/receipts/jcjy2025-video-link.txt.
"""

from __future__ import annotations

import email
import email.policy
import os
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

import pytest
from PIL import Image
from sqlalchemy import create_engine, select
from starlette.testclient import TestClient

from console.auth import hash_password
from ingest.samples import files as samples
from ingest.config import load_config
from ingest.samples.mails import Attachment, BigAttachment, build_mail, netease_big_attachment, qq_big_attachment
from ingest.runtime import Runtime
from ingest.samples.submissions import MAILBOX, RECEIVED, SCHOOLS, SchoolCase, zip_gbk
from ingest.staff.webapp import build_console
from link_server import LinkServer
from servers import run_intake, write_intake_config
from store.models import Attachment as AttachmentRow
from store.models import Case, Event, Finding, Submission

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parent.parent
UNCHECKED = "以超大附件链接发送，系统无法直接检查；请工作人员在 {day} 到期前下载"
NETEASE_URL = ("https://mail.163.com/large-attachment-download/index.html?p=X-NETEASE-HUGE-ATTACHMENT"
               "&file=ETAbR4RbTNGiL3C2_q8-6cYzYo7wRtSM5qgBPUZ")
QQ_URL = "https://wx.mail.qq.com/ftn/download?func=3&k=a1b2c3d4e5f6&key=a1b2c3d4e5f60718293a4b5c&code=9f3e2d1c"
CONSOLE_SECRET = "k" * 48
PASSWORD = "correct horse battery"


@dataclass(frozen=True)
class Kit:
    """Real files of one compliant case (no video), made once for the module."""

    form: Path
    scan: Path
    text: Path
    photos: tuple[Path, ...]
    certificate: Path
    clipping: Path  # a newspaper clipping, named so
    award_scan: Path  # a scanned 奖状 whose name says nothing; its Windows file properties (EXIF XPTitle) do
    video: Path
    promo: Path  # a second, different video

    def case_files(self, case: SchoolCase, photos: int = 2) -> list[Path]:
        """The case's own files: its form names the school and case its subject names, and no file is the same
        as another case's (that would be a duplicate-submission warning)."""
        d = self.form.parent / case.school
        if not d.exists():
            d.mkdir()
            samples.make_form_docx(d / "申报表.docx", {"申报单位": f"{case.province}{case.city}{case.school}",
                                                      "案例名称": case.case_name, "类别": case.category})
            seed = SCHOOLS.index(case) + 1
            samples.make_scanned_pdf(d / self.scan.name, with_seal=True, seed=seed)
            samples.make_text_docx(d / self.text.name, 2400, seed=seed)
            for p in self.photos:  # the same picture with the school's mark after the JPEG's end: a new file
                (d / p.name).write_bytes(p.read_bytes() + case.sender.encode())
        return [d / "申报表.docx", d / self.scan.name, d / self.text.name, *(d / p.name for p in self.photos[:photos])]


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory) -> Kit:
    d = tmp_path_factory.mktemp("kit")
    form = d / "申报表.docx"
    scan, text = d / "申报表（盖章）.pdf", d / "案例文字材料.docx"
    photos = []
    for i, caption in enumerate(("学生在劳动基地种植蔬菜", "教师指导学生编程", "家长参与校园开放日", "社团展示", "科技节现场"), 1):
        photos.append(d / f"图{i}：{caption}.jpg")
        samples.make_jpeg(photos[-1], 2_150_000, seed=i)
    certificate = d / "荣誉证书扫描件.jpg"
    samples.make_jpeg(certificate, 300_000, (1200, 900), seed=99)
    clipping = d / "县报报道剪报.jpg"
    samples.make_jpeg(clipping, 250_000, (1000, 1400), seed=98)
    award_scan = d / "扫描件01.jpg"
    exif = Image.Exif()
    exif[0x9C9B] = "区级优秀案例奖状".encode("utf-16-le") + b"\0\0"  # what Windows writes for 标题
    Image.new("RGB", (1400, 1000), (236, 222, 196)).save(award_scan, "JPEG", quality=85, exif=exif)
    video = samples.make_mp4(d / "实践创新案例视频.mp4", 3.0, 1280, 720)
    promo = samples.make_mp4(d / "学校宣传片.mp4", 4.0, 1920, 1080)
    return Kit(form, scan, text, tuple(photos), certificate, clipping, award_scan, video, promo)


@pytest.fixture(scope="module")
def link_server(kit: Kit) -> Iterator[LinkServer]:
    server = LinkServer(kit.video).start()
    yield server
    server.stop()


def mail(case: SchoolCase, style: str, *, files: list[Path], links: list[BigAttachment] = (),  # type: ignore[assignment]
         shape: str = "163", packed: bool = False, twice: bool = False) -> bytes:
    intro = f"您好！{case.school}申报材料见附件，视频文件较大，以超大附件发送。"
    text, html = (netease_big_attachment if shape == "163" else qq_big_attachment)(intro, links) if links \
        else (intro, None)
    attachments = [Attachment(f"{case.school}.zip", zip_gbk(files, case.school), "application/zip")] if packed \
        else [Attachment.from_file(f, content_type="image/jpeg" if f.suffix == ".jpg" else "application/octet-stream")
              for f in files]
    if twice:
        attachments = attachments + attachments
    return build_mail(style=style, sender=case.sender, sender_name=case.school, to=MAILBOX, subject=case.subject,
                      body=text, html=html, attachments=attachments, received_at=RECEIVED)


@pytest.fixture
def intake(tmp_path: Path, dovecot, imap_user, smtp_sink, db_url, monkeypatch):  # type: ignore[no-untyped-def]
    """poll(*mails, links=…) and cli(*args) against one fresh mailbox, database and spool."""
    state: dict[str, Path] = {}
    monkeypatch.setenv("TEST_CONSOLE_SECRET", CONSOLE_SECRET)

    def configure(links: str = "") -> Path:
        tail = (f'[console]\nhost = "127.0.0.1"\nport = 8080\nsecret_key_env = "TEST_CONSOLE_SECRET"\n'
                f'https_only = false\n[[console.users]]\nname = "li"\nrole = "reviewer"\n'
                f'password_hash = "{hash_password(PASSWORD)}"\n')
        state["cfg"] = write_intake_config(tmp_path, imap_port=dovecot.port, user=imap_user,
                                           smtp_port=smtp_sink.port, db_url=db_url, links=links, tail=tail)
        return state["cfg"]

    def poll(*raws: bytes, links: str = "") -> None:
        configure(links)
        for raw in raws:
            dovecot.append(imap_user, "INBOX", raw, internaldate=RECEIVED)
        run_intake(state["cfg"], "poll", "--once", password=dovecot.password)

    def cli(*args: str, check: bool = True):  # type: ignore[no-untyped-def]
        return run_intake(state["cfg"], *args, password=dovecot.password, check=check)

    poll.cli = cli  # type: ignore[attr-defined]
    poll.cfg = lambda: state["cfg"]  # type: ignore[attr-defined]
    return poll


def plain(raw: bytes) -> tuple[str, str]:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    body = msg.get_body(preferencelist=("plain",))
    return str(msg["Subject"]), body.get_content() if body is not None else ""


def case_state(db_url: str, sender: str) -> tuple[str, str, int, list[Finding], list[AttachmentRow], list[str]]:
    """(case no, status, current version, its findings, its attachments, the case's event actions)."""
    engine = create_engine(db_url)
    with engine.connect() as conn:
        case = conn.execute(select(Case).where(Case.sender == sender)).one()
        sub = conn.execute(select(Submission.id).where(Submission.case_id == case.id,
                                                       Submission.version == case.current_version)).scalar_one()
        findings = list(conn.execute(select(Finding).where(Finding.submission_id == sub).order_by(Finding.id)))
        atts = list(conn.execute(select(AttachmentRow).where(AttachmentRow.submission_id == sub)))
        events = list(conn.execute(select(Event.action).where(Event.case_id == case.id).order_by(Event.id)).scalars())
    engine.dispose()
    return case.case_no, case.status, case.current_version, findings, atts, events  # type: ignore[return-value]


def unchecked(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if "系统无法直接检查" in f.message]


def test_163_and_qq_video_links_count_warn_and_staff_add_the_files(intake, smtp_sink, db_url, kit) -> None:  # type: ignore[no-untyped-def]
    now = datetime.now(timezone.utc)
    soon, later = now + timedelta(days=2), now + timedelta(days=20)
    netease, qq = SCHOOLS[0], SCHOOLS[1]
    intake(mail(netease, "163", files=kit.case_files(netease), packed=True,
                links=[BigAttachment("实践创新案例视频.mp4", 86_507_520, soon, NETEASE_URL)]),
           mail(qq, "qq", files=kit.case_files(qq), shape="qq",
                links=[BigAttachment("学校宣传片.mp4", 257_425_408, later, QQ_URL)]))
    # The poll itself raises the expiry alert (daily, to the organiser): two receipts and one alert.
    mails = [(m.rcpt_tos[0], plain(m.raw)) for m in smtp_sink.wait_for(3, timeout=30)]
    receipts = {to: mail for to, mail in mails if "告警" not in mail[0]}
    alert = [mail for to, mail in mails if "告警" in mail[0]]
    assert len(alert) == 1 and "1 个超大附件链接将在 3 天内到期" in alert[0][0]
    assert "实践创新案例视频.mp4" in alert[0][1] and "intake attach" in alert[0][1]

    soon_day = soon.astimezone(timezone(timedelta(hours=8))).strftime("%Y-%m-%d")
    subject, text = receipts[netease.sender]
    assert subject.startswith("【受理回执】"), text
    assert "已收到您以超大附件链接发送的文件" in text and "实践创新案例视频.mp4（82.5M）" in text
    assert text.count(UNCHECKED.format(day=soon_day)) == 1  # four rules, one wording, said once
    assert "共收到1个视频" in text and "未附视频" not in text
    if os.environ.get("INTAKE_WRITE_RECEIPTS"):
        (REPO / "docs" / "receipts" / "jcjy2025-video-link.txt").write_text(f"Subject: {subject}\n\n{text}",
                                                                            encoding="utf-8")
    case_no, status, _v, findings, _a, _e = case_state(db_url, netease.sender)
    assert status == "accepted_with_warnings"
    assert {f.rule for f in unchecked(findings)} == {"video-format", "video-duration", "video-aspect",
                                                     "video-resolution"}
    subject, text = receipts[qq.sender]
    assert subject.startswith("【受理回执】") and "学校宣传片.mp4（245.5M）" in text and "未附视频" not in text

    health = intake.cli("health", check=False)
    assert health.returncode == 1 and case_no in health.stdout and "实践创新案例视频.mp4" in health.stdout
    assert "学校宣传片.mp4" not in health.stdout  # 20 days away: not within [links] alert_days

    # Staff download the 163 file and add it: the same version is checked again, on the file.
    out = intake.cli("attach", case_no, str(kit.video)).stdout
    assert "作为超大附件链接“实践创新案例视频.mp4”的文件" in out
    case_no, status, version, findings, atts, events = case_state(db_url, netease.sender)
    assert version == 1 and not unchecked(findings) and status == "accepted", [f.message for f in findings
                                                                               if not f.passed]
    assert any(f.rule == "video-duration" and f.passed and "3秒" in f.message for f in findings)
    supplied = [a for a in atts if a.kind == "supplied"]
    assert len(supplied) == 1 and supplied[0].role == "video" and supplied[0].url == NETEASE_URL
    assert Path(supplied[0].stored_path).read_bytes() == kit.video.read_bytes()
    assert "case.file_attached" in events and "case.rechecked" in events
    assert case_no not in intake.cli("health", check=False).stdout

    # A recheck keeps the added file; the console's upload does the same for the QQ case.
    intake.cli("recheck", case_no)
    assert not unchecked(case_state(db_url, netease.sender)[3])
    qq_no = case_state(db_url, qq.sender)[0]
    rt = Runtime(load_config(intake.cfg(), env={**os.environ, "TEST_IMAP_PASSWORD": "x",
                                                "TEST_CONSOLE_SECRET": CONSOLE_SECRET}))
    try:
        client = TestClient(build_console(rt, https_only=False))
        page = client.get("/login")
        token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        client.post("/login", data={"username": "li", "password": PASSWORD, "csrf": token})
        home = client.get("/")
        assert "学校宣传片.mp4" in home.text and case_no not in home.text.split("待下载的超大附件链接")[1][:2000]
        token = re.search(r'name="csrf" value="([^"]+)"', home.text).group(1)  # type: ignore[union-attr]
        with kit.promo.open("rb") as fh:
            r = client.post(f"/cases/{qq_no}/attach", data={"csrf": token},
                            files={"file": ("学校宣传片.mp4", fh, "video/mp4")})
        assert r.status_code == 200 and "已添加文件（作为超大附件链接“学校宣传片.mp4”的文件）" in r.text
    finally:
        rt.close()
    _no, status, version, findings, _atts, events = case_state(db_url, qq.sender)
    assert version == 1 and status == "accepted" and not unchecked(findings) and "case.file_attached" in events


def test_automatic_download_checks_the_file_and_any_failure_keeps_the_warning(intake, smtp_sink, db_url, kit,
                                                                             link_server) -> None:  # type: ignore[no-untyped-def]
    expires = datetime.now(timezone.utc) + timedelta(days=25)
    foxmail, outlook = SCHOOLS[2], SCHOOLS[3]
    intake(mail(foxmail, "foxmail", files=kit.case_files(foxmail),
                links=[BigAttachment("实践创新案例视频.mp4", len(link_server.video), expires,
                                     link_server.url("video", "fox"))]),
           mail(outlook, "outlook", files=kit.case_files(outlook),
                links=[BigAttachment("实践创新案例视频.mp4", len(link_server.video), expires,
                                     link_server.url("away", "out"))]),
           links='fetch = true\nallowed_hosts = ["163.com", "126.com", "qq.com", "127.0.0.1"]\ntimeout_seconds = 60')
    receipts = {m.rcpt_tos[0]: plain(m.raw) for m in smtp_sink.wait_for(2, timeout=30)}

    _no, status, _v, findings, atts, events = case_state(db_url, foxmail.sender)
    assert status == "accepted" and not unchecked(findings) and "link.fetched" in events
    (fetched,) = [a for a in atts if a.kind == "supplied"]
    assert fetched.role == "video" and "spool" in Path(fetched.stored_path).parts
    assert "实践创新案例视频.mp4（" in receipts[foxmail.sender][1] and "已下载并检查" in receipts[foxmail.sender][1]

    _no, status, _v, findings, atts, events = case_state(db_url, outlook.sender)
    assert status == "accepted_with_warnings" and unchecked(findings) and "link.fetch_failed" in events
    assert not [a for a in atts if a.kind == "supplied"]
    assert "/away" in link_server.hits and not any("files.example.net" in h for h in link_server.hits)


def test_what_was_sent_twice_counts_once_and_a_certificate_is_auxiliary(intake, smtp_sink, db_url, kit) -> None:  # type: ignore[no-untyped-def]
    outlook, qq, netease, foxmail = SCHOOLS[5], SCHOOLS[6], SCHOOLS[7], SCHOOLS[4]
    photos_twice = mail(outlook, "outlook", files=[*kit.case_files(outlook, photos=5), kit.certificate], twice=True)
    zip_twice = mail(qq, "qq", files=kit.case_files(qq, photos=3), packed=True, twice=True)
    clippings = mail(netease, "163", files=[*kit.case_files(netease, photos=2), kit.clipping, kit.award_scan],
                     packed=True)
    fox_files = kit.case_files(foxmail, photos=4)  # the photos loose, and again inside the ZIP with the rest
    loose_and_zipped = build_mail(
        style="foxmail", sender=foxmail.sender, to=MAILBOX, subject=foxmail.subject, body="申报材料见附件",
        received_at=RECEIVED, attachments=[*(Attachment.from_file(p, content_type="image/jpeg") for p in fox_files[3:]),
                                           Attachment(f"{foxmail.school}.zip", zip_gbk(fox_files, foxmail.school))])
    intake(photos_twice, zip_twice, clippings, loose_and_zipped)
    receipts = {m.rcpt_tos[0]: plain(m.raw) for m in smtp_sink.wait_for(4, timeout=30)}

    _no, status, _v, findings, atts, _e = case_state(db_url, outlook.sender)
    count = next(f for f in findings if f.rule == "photo-count")
    assert status == "accepted" and count.evidence["measured"] == 5, [f.message for f in findings if not f.passed]
    assert [a.role for a in atts if a.name == kit.certificate.name] == ["auxiliary"]
    text = receipts[outlook.sender][1]
    assert "荣誉证书扫描件.jpg" in text and "辅助资料" in text and "5个照片文件重复附上，只计一次" in text
    assert sum(1 for f in findings if f.rule == "duplicate-file" and f.severity == "info" and not f.passed) == 9

    _no, status, _v, findings, _a, _e = case_state(db_url, qq.sender)
    assert status == "accepted", [f.message for f in findings if not f.passed and f.severity != "info"]
    assert next(f for f in findings if f.rule == "photo-count").evidence["measured"] == 3
    assert any(f.rule == "duplicate-file" and f.severity == "info" and f.file == f"{qq.school}.zip" for f in findings)

    _no, status, _v, findings, atts, _e = case_state(db_url, netease.sender)
    assert status == "accepted", [f.message for f in findings if not f.passed and f.severity != "info"]
    assert sorted(a.role for a in atts if a.name.endswith(("剪报.jpg", "扫描件01.jpg"))) == ["auxiliary", "auxiliary"]
    assert "县报报道剪报.jpg、扫描件01.jpg" in receipts[netease.sender][1]

    _no, status, _v, findings, _a, _e = case_state(db_url, foxmail.sender)
    assert status == "accepted", [f.message for f in findings if not f.passed and f.severity != "info"]
    assert next(f for f in findings if f.rule == "photo-count").evidence["measured"] == 4
    assert "4个照片文件重复附上，只计一次" in receipts[foxmail.sender][1]
