"""The automatic download of a video link ([links] fetch = true) against a real HTTP server on loopback: the file
lands in the spool; hosts, redirects, size, time and content are fenced, and every refusal is a plain reason."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from ingest.samples import files as samples
from ingest.config import LinkSettings
from ingest.files.linkfetch import FetchFailed, fetch_link
from ingest.mail.spool import Spool
from link_server import LinkServer

LOCAL = LinkSettings(fetch=True, allowed_hosts=("163.com", "127.0.0.1"), max_bytes=50 << 20, timeout_seconds=30)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LinkServer]:
    video = samples.make_mp4(tmp_path_factory.mktemp("video") / "v.mp4", 3.0, 1280, 720)
    srv = LinkServer(video).start()
    yield srv
    srv.stop()


@pytest.fixture
def spool(tmp_path: Path) -> Spool:
    return Spool(tmp_path / "spool")


def test_the_video_lands_in_the_spool_through_a_redirect_on_an_allowed_host(server: LinkServer, spool: Spool) -> None:
    got = fetch_link(spool, 7, server.url("hop"), "../../实践创新案例视频.mp4", LOCAL)
    assert got.path.read_bytes() == server.video and got.size == len(server.video)
    assert spool.contains(got.path) and got.path.parent == spool.root / "supplied" / "7"
    assert got.url == server.url("hop") and got.name == "../../实践创新案例视频.mp4"  # the name is never a path
    assert not list(spool.tmp_dir.iterdir())


def test_hosts_not_listed_are_never_contacted(server: LinkServer, spool: Spool) -> None:
    before = len(server.hits)
    with pytest.raises(FetchFailed, match="127.0.0.1 不在允许下载的列表中"):
        fetch_link(spool, 1, server.url("video"), "v.mp4", LinkSettings(fetch=True))  # default: the webmails only
    assert len(server.hits) == before
    with pytest.raises(FetchFailed, match="files.example.net 不在允许"):
        fetch_link(spool, 1, server.url("away"), "v.mp4", LOCAL)  # a redirect off the list is not followed
    with pytest.raises(FetchFailed, match="http/https"):
        fetch_link(spool, 1, "file:///etc/passwd", "v.mp4", LOCAL)


@pytest.mark.parametrize("route, settings, reason", [
    ("login", LOCAL, "不是视频，而是网页"),
    ("video", LinkSettings(fetch=True, allowed_hosts=("127.0.0.1",), max_bytes=1000), "超过自动下载上限"),
    ("unsized", LinkSettings(fetch=True, allowed_hosts=("127.0.0.1",), max_bytes=1000), "超过自动下载上限"),
    ("slow", LinkSettings(fetch=True, allowed_hosts=("127.0.0.1",), timeout_seconds=1), "下载超时"),
])
def test_every_bound_gives_a_plain_reason_and_leaves_nothing(server: LinkServer, spool: Spool, route: str,
                                                             settings: LinkSettings, reason: str) -> None:
    with pytest.raises(FetchFailed, match=reason):
        fetch_link(spool, 3, server.url(route), "v.mp4", settings)
    assert not list(spool.tmp_dir.iterdir()) and not (spool.root / "supplied" / "3").exists()


def test_links_configuration_is_validated_at_start(tmp_path: Path) -> None:
    from ingest.config import REPO_ROOT, ConfigError, load_config

    env = {"INTAKE_IMAP_PASSWORD": "x", "INTAKE_SMTP_PASSWORD": "x", "INTAKE_CONSOLE_SECRET": "s" * 40}
    example = (REPO_ROOT / "config.example.toml").read_text(encoding="utf-8")
    assert load_config(REPO_ROOT / "config.example.toml", env=env).links == LinkSettings()  # off by default

    def with_links(old: str, new: str) -> Path:
        assert old in example
        cfg = tmp_path / "config.toml"
        cfg.write_text(example.replace(old, new), encoding="utf-8")
        return cfg

    hosts = 'allowed_hosts = ["163.com", "126.com", "yeah.net", "qq.com"]'
    example = example.replace("fetch = false", "fetch = true")
    cfg = load_config(with_links(hosts, 'allowed_hosts = ["163.com", "127.0.0.1"]'), env=env)
    assert cfg.links.fetch and cfg.links.host_allowed("127.0.0.1") and cfg.links.host_allowed("mail.163.com")
    assert not cfg.links.host_allowed("evil163.com") and not cfg.links.host_allowed("127.0.0.2")
    for old, new, said in (("fetch = true", 'fetch = "yes"', "links.fetch"),
                           ("alert_days = 3", "alert_days = -1", "links.alert_days"),
                           ("max_bytes = 1073741824", "max_bytes = 0", "links.max_bytes"),
                           (hosts, 'allowed_hosts = ["https://163.com/"]', "allowed_hosts"),
                           (hosts, "allowed_hosts = []", "allowed_hosts"),
                           ("fetch = true", "fetch = true\nfollow = true", "'follow'")):
        with pytest.raises(ConfigError, match=said):
            load_config(with_links(old, new), env=env)
