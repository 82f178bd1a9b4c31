"""Reply templates: every kind renders, a broken template fails at start-up with one line."""

from __future__ import annotations

import email
import email.policy
import shutil
from pathlib import Path

import pytest

from ingest.config import REPO_ROOT, load_config
from ingest.replies import sample_context
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
    mid = make_message_id("receipt", "JCJY2025-000001.v1", "163.com")
    raw = build_message(sender="jcjyzj2025@163.com", sender_name="工作组", recipient="a@school.cn",
                        subject="【受理回执】JCJY2025-000001", text="正文", html="<p>正文</p>", message_id=mid,
                        in_reply_to="<orig@school.cn>")
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["Subject"] == "【受理回执】JCJY2025-000001"
    assert msg["In-Reply-To"] == "<orig@school.cn>" and "<orig@school.cn>" in msg["References"]
    assert msg["Message-ID"] == "<receipt.JCJY2025-000001.v1@163.com>"
    path = DryRunSender(tmp_path).send(raw, "jcjyzj2025@163.com", "a@school.cn", mid)
    assert path.startswith("dry-run:") and (tmp_path / "receipt.JCJY2025-000001.v1@163.com.eml").read_bytes() == raw
