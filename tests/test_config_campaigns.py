"""Several campaigns in one configuration ([[campaigns]]): each its call, mailbox, SMTP sender and templates; the
single-campaign form keeps working unchanged; every mistake is one Chinese line."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.config import REPO_ROOT, ConfigError, load_config

EXAMPLE = REPO_ROOT / "config.example.toml"
ENV = {"JC_IMAP": "jc-secret", "XH_IMAP": "xh-secret", "SHARED_SMTP": "smtp-secret", "XH_SMTP": "xh-smtp"}

TWO = """
[intake]
spool_dir = "var/spool"
database_url = "sqlite:///var/intake.db"

[imap]
host = "imap.163.com"
security = "ssl"

[smtp]
host = "smtp.163.com"
username = "jcjyzj2025@163.com"
password_env = "SHARED_SMTP"
sender_name = "基础教育创新案例征集工作组"

[[campaigns]]
campaign_file = "campaigns/jcjy2025.toml"
[campaigns.imap]
username = "jcjyzj2025@163.com"
password_env = "JC_IMAP"

[[campaigns]]
campaign_file = "campaigns/xinhua2024.toml"
case_number_prefix = "XH24"
templates_dir = "xh-templates"
[campaigns.imap]
host = "imap.news.cn"
username = "xhweducation@news.cn"
password_env = "XH_IMAP"
folder = "案例"
[campaigns.smtp]
username = "xhweducation@news.cn"
password_env = "XH_SMTP"
sender_name = "新华网教育"
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "config.toml"
    p.write_text(text, encoding="utf-8")
    return p


def test_two_campaigns_each_with_its_mailbox_sender_and_templates(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, TWO), env=ENV)
    assert cfg.campaign_ids == ("jcjy2025", "xinhua2024") and cfg.multi
    jc, xh = cfg.views()
    assert jc.campaign.case_number_prefix == "JCJY2025" and xh.campaign.case_number_prefix == "XH24"
    assert jc.imap is not None and xh.imap is not None and jc.smtp is not None and xh.smtp is not None
    # Shared keys come from [imap] / [smtp]; each campaign's own keys replace them.
    assert (jc.imap.host, jc.imap.username, jc.imap.password, jc.imap.folder) == (
        "imap.163.com", "jcjyzj2025@163.com", "jc-secret", "INBOX")
    assert (xh.imap.host, xh.imap.username, xh.imap.password, xh.imap.folder) == (
        "imap.news.cn", "xhweducation@news.cn", "xh-secret", "案例")
    assert (jc.smtp.sender, jc.smtp.password, jc.smtp.sender_name) == (
        "jcjyzj2025@163.com", "smtp-secret", "基础教育创新案例征集工作组")
    assert (xh.smtp.sender, xh.smtp.password, xh.smtp.sender_name) == ("xhweducation@news.cn", "xh-smtp", "新华网教育")
    assert (xh.smtp.host, xh.smtp.security) == ("smtp.163.com", "ssl")
    assert xh.intake.templates_dir == tmp_path / "xh-templates"
    assert jc.intake.templates_dir == cfg.intake.templates_dir
    # The loaded configuration is the first campaign's view; --campaign picks another.
    assert cfg.campaign.id == "jcjy2025" and cfg.views("xinhua2024") == (xh,)
    with pytest.raises(ConfigError, match="没有 id 为 'nosuch' 的征集（已配置：jcjy2025、xinhua2024）"):
        cfg.for_campaign("nosuch")


def test_the_single_campaign_form_is_one_campaign(tmp_path: Path) -> None:
    cfg = load_config(EXAMPLE, env={"INTAKE_IMAP_PASSWORD": "a", "INTAKE_SMTP_PASSWORD": "b",
                                    "INTAKE_CONSOLE_SECRET": "x" * 40})
    assert cfg.campaign_ids == ("jcjy2025",) and not cfg.multi
    assert cfg.views() == (cfg,) and cfg.for_campaign("jcjy2025") == cfg


def test_an_inline_campaign_and_overrides(tmp_path: Path) -> None:
    inline = EXAMPLE.read_text(encoding="utf-8").split("\n[campaign]\n", 1)[1]
    inline = inline.replace("[campaign.", "[campaigns.campaign.").replace("[[campaign.", "[[campaigns.campaign.")
    text = ('[[campaigns]]\nid = "jcjy2025-hunan"\nname = "湖南省推荐"\n[campaigns.campaign]\n' + inline)
    cfg = load_config(write(tmp_path, text), env={})
    assert cfg.campaign.id == "jcjy2025-hunan" and cfg.campaign.name == "湖南省推荐"
    assert cfg.campaign.case_number_prefix == "JCJY2025" and cfg.imap is None


@pytest.mark.parametrize(("old", "new", "message"), [
    ('case_number_prefix = "XH24"', 'case_number_prefix = "JCJY2025"',
     "campaigns\\[1\\]：受理编号前缀 'JCJY2025' 与 campaigns\\[0\\] 相同"),
    ('campaign_file = "campaigns/xinhua2024.toml"', 'campaign_file = "campaigns/jcjy2025.toml"',
     "campaigns\\[1\\]：征集 id 'jcjy2025' 与 campaigns\\[0\\] 相同"),
    ('host = "imap.news.cn"\nusername = "xhweducation@news.cn"\npassword_env = "XH_IMAP"\nfolder = "案例"',
     'username = "JCJYZJ2025@163.com"\npassword_env = "XH_IMAP"',
     "campaigns\\[1\\]：收信邮箱和文件夹 .* 相同"),
    ('templates_dir = "xh-templates"', 'template_dir = "x"', "campaigns\\[1\\]：未知的配置项 'template_dir'"),
    ('folder = "案例"', 'folder = 3', "campaigns\\[1\\].imap.folder：应为文本"),
    ('password_env = "XH_IMAP"', 'password = "x"', "campaigns\\[1\\].imap：密码不能写在 TOML 里"),
    ('case_number_prefix = "XH24"', 'case_number_prefix = "XH 24"', "campaigns\\[1\\].campaign.case_number_prefix"),
    ('[[campaigns]]\ncampaign_file = "campaigns/jcjy2025.toml"',
     '[campaign]\nid = "x"\n[[campaigns]]\ncampaign_file = "campaigns/jcjy2025.toml"', "只能用一种"),
    ('[[campaigns]]\ncampaign_file = "campaigns/jcjy2025.toml"', '[[campaigns]]', "campaigns\\[0\\]：缺少 \\[campaign\\]"),
])
def test_mistakes_are_one_line(tmp_path: Path, old: str, new: str, message: str) -> None:
    assert old in TWO
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, TWO.replace(old, new, 1)), env=ENV)


def test_a_missing_secret_names_the_campaign(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="XH_IMAP 未设置或为空（campaigns\\[1\\].imap.password_env）"):
        load_config(write(tmp_path, TWO), env={k: v for k, v in ENV.items() if k != "XH_IMAP"})


def test_no_campaigns_at_all(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="应为一个或多个"):
        load_config(write(tmp_path, "campaigns = []\n"), env={})
