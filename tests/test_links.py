"""Large-attachment links as 163/126 webmail and QQ Mail write them into the HTML and text bodies."""

from __future__ import annotations

from datetime import datetime

from ingest.files.links import CHINA_TIME, find_large_attachment_links, link_provider

NETEASE_URL = ("https://mail.163.com/large-attachment-download/index.html?p=X-NETEASE-HUGE-ATTACHMENT"
               "&file=ETAbR4RbTNGiL3C2_q8-6cYzYo7wRtSM5qgBPUZ-8Evz&title=%E6%A1%88%E4%BE%8B")
NETEASE_URL_2 = NETEASE_URL.replace("ETAbR4Rb", "Zq81kD0a")
# 2025-12-20 10:00 Beijing time in epoch milliseconds
EXPIRES_MS = int(datetime(2025, 12, 20, 10, 0, tzinfo=CHINA_TIME).timestamp() * 1000)

NETEASE_HTML = f"""<html><head><meta charset="GBK"></head><body>
<div style="line-height:1.7;color:#000000;font-size:14px;font-family:Arial">各位老师好，申报材料见附件。</div>
<div id="divNeteaseBigAttach" style="clear:both;">
 <div style="padding:4px 8px 4px 8px;background:#F7F7F7;font-size:12px;">
  <b style="font-size:14px;">从网易163邮箱发来的超大附件</b></div>
 <div style="padding:4px 8px;background:#fff;line-height:22px;">
  <div style="clear:both;height:36px;padding:6px 4px;">
   <a href="{NETEASE_URL}" target="_blank"><img width="36" height="36" src="https://mimg.127.net/xm/all/fj/ico-bfile-6.gif" border="0"/></a>
   <div style="padding:0px 0px 0px 50px;">
    <a download href="{NETEASE_URL}" filename="实践创新案例视频.mp4" filesize="3785359" expiretime="{EXPIRES_MS}"
       style="text-decoration:none;color:#000;" target="_blank">实践创新案例视频.mp4</a>
    <span style="color:#bbb;">(3.61M, 2025年12月20日 10:00 到期)</span><br/>
    <a href="{NETEASE_URL}" target="_blank" style="font-size:12px;">下载</a>
   </div>
  </div>
  <div style="clear:both;height:36px;padding:6px 4px;">
   <div style="padding:0px 0px 0px 50px;">
    <a download href="{NETEASE_URL_2}" style="text-decoration:none;color:#000;" target="_blank">照片 &amp; 说明.zip</a>
    <span style="color:#bbb;">(1.2G, 2025年12月21日 08:05 到期)</span>
   </div>
  </div>
 </div>
</div></body></html>"""

NETEASE_TEXT = f"""各位老师好，申报材料见附件。

从网易163邮箱发来的超大附件
实践创新案例视频.mp4 (3.61M, 2025年12月20日 10:00 到期)
下载地址: {NETEASE_URL}
学校 宣传 片.mp4 (120.5M, 2025年12月22日 09:00 到期)
下载地址: {NETEASE_URL.replace("ETAbR4Rb", "Text0002")}
"""

QQ_URL = "https://mail.qq.com/cgi-bin/ftnExs_download?t=exs_ftn_download&k=5e63613862eb3ac9a2c0e1384e375b1d&code=7c2bd0da"
WX_URL = "https://wx.mail.qq.com/ftn/download?func=3&k=a1b2c3d4e5f60718293a4b5c&key=a1b2c3d4e5f60718293a4b5c&code=9f3e2d1c"
QQ_HTML = f"""<div id="QQMailBigAttach" style="margin:0 12px;">
<div style="padding:2px 0 12px 0;"><b>从QQ邮箱发来的超大附件</b></div>
<div class="bigatt_bt" style="float:left;clear:both;" title="案例文字材料.docx
文件大小：856.2K
到期时间：2025年12月18日 16:30">
  <a href="{QQ_URL}" target="_blank"><img src="https://rescdn.qqmail.com/zh_CN/images/mo/DEFAULT2/icon/doc.gif"/></a>
  <div class="name"><a href="{QQ_URL}" target="_blank">案例文字材料.docx</a></div>
</div>
<div class="bigatt_bt" title="宣传片.mp4
文件大小：245.5M
到期时间：2025年12月30日 09:15"><a href="{WX_URL}">下载</a></div>
<p>另见 <a href="https://www.moe.gov.cn/">教育部网站</a></p>
</div>"""


def test_netease_html_reads_attributes_and_grey_note() -> None:
    links = find_large_attachment_links(NETEASE_HTML, "")
    assert [(l.name, l.provider) for l in links] == [("实践创新案例视频.mp4", "163"), ("照片 & 说明.zip", "163")]
    video, photos = links
    assert video.size_bytes == 3785359 and video.size_text == "3.61M"
    assert video.expires_at == datetime(2025, 12, 20, 10, 0, tzinfo=CHINA_TIME)
    assert video.url == NETEASE_URL
    assert photos.size_bytes == int(1.2 * (1 << 30)) and photos.size_text == "1.2G"
    assert photos.expires_at == datetime(2025, 12, 21, 8, 5, tzinfo=CHINA_TIME)


def test_netease_plain_text_part() -> None:
    link, second = find_large_attachment_links("", NETEASE_TEXT)
    assert link.name == "实践创新案例视频.mp4" and link.size_bytes == int(3.61 * (1 << 20))
    assert link.expires_at == datetime(2025, 12, 20, 10, 0, tzinfo=CHINA_TIME) and link.url == NETEASE_URL
    assert second.name == "学校 宣传 片.mp4" and second.size_text == "120.5M"


def test_html_and_text_of_the_same_mail_give_each_link_once() -> None:
    links = find_large_attachment_links(NETEASE_HTML, NETEASE_TEXT)
    assert [l.url for l in links][:2] == [NETEASE_URL, NETEASE_URL_2] and len(links) == 3
    assert links[0].size_bytes == 3785359  # the exact attribute, not the rounded text


def test_qq_transfer_station_classic_and_new() -> None:
    links = find_large_attachment_links(QQ_HTML, "")
    assert [(l.name, l.provider, l.size_text) for l in links] == [("案例文字材料.docx", "qq", "856.2K"),
                                                                  ("宣传片.mp4", "qq", "245.5M")]
    assert links[0].size_bytes == int(856.2 * 1024)
    assert links[0].expires_at == datetime(2025, 12, 18, 16, 30, tzinfo=CHINA_TIME)
    assert links[1].url == WX_URL and links[1].expires_at == datetime(2025, 12, 30, 9, 15, tzinfo=CHINA_TIME)


def test_ordinary_links_and_empty_bodies_give_nothing() -> None:
    assert find_large_attachment_links("<p><a href='https://mail.163.com/'>163</a></p>", "见 https://qq.com/x") == []
    assert find_large_attachment_links("", "") == []
    assert find_large_attachment_links("<a href=", "") == []  # truncated HTML does not raise


def test_provider_recognition() -> None:
    assert link_provider("https://mail.126.com/large-attachment-download/index.html?p=X-NETEASE-HUGE-ATTACHMENT") == "163"
    assert link_provider("http://fs.163.com/fs/display/?p=X-NETEASE-HUGE-ATTACHMENT&file=abc") == "163"
    assert link_provider("https://exmail.qq.com/cgi-bin/ftnExs_download?k=1") == "qq"
    assert link_provider("https://evil.example/large-attachment-download/index.html") is None


def test_only_web_addresses_are_links() -> None:
    """A crafted href carrying the 163 marker must not reach a staff page as a javascript: link."""
    assert link_provider("javascript:alert(1)//X-NETEASE-HUGE-ATTACHMENT") is None
    html = '<a href="javascript:alert(1)//X-NETEASE-HUGE-ATTACHMENT" filename="视频.mp4">视频.mp4</a>'
    assert find_large_attachment_links(html, "") == []


def test_hosts_the_operator_allows_are_recognised_in_the_webmails_shapes_only() -> None:
    """[links] allowed_hosts (a mirror, the tests' loopback server) extend where the 163/QQ shapes are accepted."""
    local = "http://127.0.0.1:8080/large-attachment-download/index.html?p=X-NETEASE-HUGE-ATTACHMENT&file=a"
    assert link_provider(local) is None
    assert link_provider(local, ("127.0.0.1",)) == "163"
    assert link_provider("http://127.0.0.1:8080/ftn/download?k=1", ("127.0.0.1",)) == "qq"
    assert link_provider("http://127.0.0.1:8080/index.html", ("127.0.0.1",)) is None
    assert link_provider("http://127.0.0.2/large-attachment-download/x", ("127.0.0.1",)) is None
