"""Reply templates: every kind renders, a broken template fails at start-up with one line."""

from __future__ import annotations

import email
import email.policy
import shutil
from pathlib import Path

import pytest

from ingest.config import REPO_ROOT, load_config
from ingest.pipeline.reply_context import sample_context
from notify.mailer import DryRunSender, build_message, make_message_id
from notify.render import KINDS, Renderer, TemplateProblem

CFG = load_config(REPO_ROOT / "config.example.toml", env={}, offline=True)


def test_every_kind_renders_text_html_and_subject() -> None:
    r = Renderer(REPO_ROOT / "templates")
    ctx = sample_context(CFG)
    for kind in KINDS:
        out = r.render(kind, ctx)
        assert out.subject and "\n" not in out.subject
        assert out.text.strip() and "<html" in out.html
    rej = r.render("rejection", ctx)
    assert "JCJY2025-000001" in rej.subject
    # every listed finding on a line of its own (a block tag at a line end must not eat the newline)
    assert all(line.count("✓") <= 1 and line.count("！") <= 1 for line in rej.text.splitlines())
    assert sum(line.strip().startswith("✓") for line in r.render("receipt", ctx).text.splitlines()) == \
        len(ctx["passed"])
    assert "四.4(4)" in rej.text and "请提供原图" in rej.text


def test_html_is_escaped() -> None:
    r = Renderer(REPO_ROOT / "templates")
    ctx = sample_context(CFG)
    ctx["fields"]["case_name"] = "<script>alert(1)</script>"
    out = r.render("receipt", ctx)
    assert "<script>" not in out.html and "&lt;script&gt;" in out.html


def test_broken_template_fails_validation(tmp_path: Path) -> None:
    tdir = tmp_path / "templates"
    shutil.copytree(REPO_ROOT / "templates", tdir)
    (tdir / "receipt.txt.j2").write_text("{% set subject %}x{% endset %}{{ case.no_such_key }}", encoding="utf-8")
    with pytest.raises(TemplateProblem) as err:
        Renderer(tdir).validate(sample_context(CFG))
    assert "receipt.txt.j2" in str(err.value) and "no_such_key" in str(err.value)


def test_built_message_is_utf8_auto_submitted_and_threaded(tmp_path: Path) -> None:
    mid = make_message_id("receipt", "JCJY2025-000001.v1", "163.com", "k" * 32)
    raw = build_message(sender="jcjyzj2025@163.com", sender_name="工作组", recipient="a@school.cn",
                        subject="【受理回执】JCJY2025-000001", text="正文", html="<p>正文</p>", message_id=mid,
                        in_reply_to="<orig@school.cn>")
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["Subject"] == "【受理回执】JCJY2025-000001"
    assert msg["In-Reply-To"] == "<orig@school.cn>" and "<orig@school.cn>" in msg["References"]
    assert msg["Message-ID"] == mid
    path = DryRunSender(tmp_path).send(raw, "jcjyzj2025@163.com", "a@school.cn", mid)
    assert path.startswith("dry-run:") and (tmp_path / f"{mid.strip('<>')}.eml").read_bytes() == raw


def test_reply_message_ids_are_deterministic_but_keyed() -> None:
    """Issue 15.1: the id of a receipt cannot be computed without the key (it was <receipt.CASE.v1@domain>, so
    anyone could write In-Reply-To for a case they never saw), yet the same reply always gets the same id."""
    a = make_message_id("receipt", "JCJY2025-000001.v1", "163.com", "k" * 32)
    assert a == make_message_id("receipt", "JCJY2025-000001.v1", "163.com", "k" * 32)
    assert a != make_message_id("receipt", "JCJY2025-000001.v1", "163.com", "j" * 32)
    assert a != make_message_id("receipt", "JCJY2025-000001.v2", "163.com", "k" * 32)
    assert a.startswith("<receipt.JCJY2025-000001.v1.") and len(a.split("@")[0]) > len("<receipt.JCJY2025-000001.v1.") + 20


def test_stranger_headers_are_bounded_in_the_reply() -> None:
    """Issue 15.3: References keep the thread's first and last ids (10), an absurd Message-ID is left out, the
    subject and the sender name are cut."""
    refs = [f"<id{i}@school.cn>" for i in range(500)]
    raw = build_message(sender="jcjyzj2025@163.com", sender_name="工" * 300, recipient="a@school.cn",
                        subject="案" * 5000, text="正文", html=None, message_id="<m@163.com>",
                        in_reply_to="<" + "x" * 5000 + "@school.cn>", references=refs)
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg["References"].split() == ["<id0@school.cn>", *refs[-9:]]
    assert msg["In-Reply-To"] is None
    assert len(str(msg["Subject"])) <= 200 and len(str(msg["From"])) < 120
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998
