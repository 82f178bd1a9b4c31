"""Unpacking real archives made by real tools: every name decoded, every byte out, nothing outside dest_dir."""

from __future__ import annotations

import bz2
import gzip
import hashlib
import tarfile
import zipfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archive_factory import (application_form_docx, infozip_raw_names, jpeg_bytes, seven_zip, tar_archive,
                             utf8_zip, windows_gbk_zip)
from ingest.files.unpack import UnpackLimits, archive_kind, clean_member_name, decode_legacy_name, unpack_attachment

MEMBERS = {
    "申报材料/实践创新案例申报表.docx": b"form bytes " * 50,
    "申报材料/案例文字材料（镕堃中学）.pdf": b"%PDF-1.4 text " * 40,
    "照片/1 学生在田间劳动.jpg": jpeg_bytes(),
    "README.txt": b"plain ascii",
}


def _by_name(files: list) -> dict[str, bytes]:
    return {f.name: f.path.read_bytes() for f in files}


def _assert_all_inside(dest: Path, files: list) -> None:
    for f in files:
        assert f.path.resolve().parent == dest.resolve()
        assert f.sha256 == hashlib.sha256(f.path.read_bytes()).hexdigest()
        assert f.size == f.path.stat().st_size


def test_windows_gbk_zip_names_come_out_in_chinese(tmp_path: Path) -> None:
    archive = windows_gbk_zip(tmp_path / "材料.zip", MEMBERS, tmp_path)
    with zipfile.ZipFile(archive) as raw:  # the premise: GBK bytes, no UTF-8 flag
        assert all(not info.flag_bits & 0x800 for info in raw.infolist())
    files, findings = unpack_attachment("材料.zip", archive, tmp_path / "out", UnpackLimits())
    assert findings == []
    assert _by_name(files) == MEMBERS
    assert {f.archive for f in files} == {"材料.zip"} and {f.depth for f in files} == {1}
    _assert_all_inside(tmp_path / "out", files)
    assert all("\ufffd" not in f.name for f in files)


def test_infozip_raw_gbk_bytes(tmp_path: Path) -> None:
    raw = {"案例申报表.docx".encode("gbk"): b"a", "照片/图一.jpg".encode("gbk"): b"b"}
    archive = infozip_raw_names(tmp_path / "a.zip", raw, tmp_path)
    files, findings = unpack_attachment("a.zip", archive, tmp_path / "out", UnpackLimits())
    assert findings == []
    assert _by_name(files) == {"案例申报表.docx": b"a", "照片/图一.jpg": b"b"}


def test_utf8_flagged_zip(tmp_path: Path) -> None:
    archive = utf8_zip(tmp_path / "u.zip", MEMBERS)
    files, findings = unpack_attachment("u.zip", archive, tmp_path / "out", UnpackLimits())
    assert findings == [] and _by_name(files) == MEMBERS


def test_seven_zip_by_py7zr(tmp_path: Path) -> None:
    archive = seven_zip(tmp_path / "材料.7z", MEMBERS)
    files, findings = unpack_attachment("材料.7z", archive, tmp_path / "out", UnpackLimits())
    assert findings == [] and _by_name(files) == MEMBERS
    _assert_all_inside(tmp_path / "out", files)


@pytest.mark.parametrize("mode", ["w", "w:gz", "w:bz2", "w:xz"])
def test_tar_family(tmp_path: Path, mode: str) -> None:
    archive = tar_archive(tmp_path / "t.tar", MEMBERS, mode=mode)
    files, findings = unpack_attachment("t.tar", archive, tmp_path / "out", UnpackLimits())
    assert findings == [] and _by_name(files) == MEMBERS


def test_gnu_tar_with_gbk_names(tmp_path: Path) -> None:
    archive = tar_archive(tmp_path / "g.tar", MEMBERS, mode="w", encoding="gbk", tar_format=tarfile.GNU_FORMAT)
    files, findings = unpack_attachment("g.tar", archive, tmp_path / "out", UnpackLimits())
    assert findings == [] and _by_name(files) == MEMBERS


def test_single_compressed_file_is_decompressed(tmp_path: Path) -> None:
    form = application_form_docx(tmp_path / "f.docx").read_bytes()
    (tmp_path / "申报表.docx.gz").write_bytes(gzip.compress(form))
    (tmp_path / "b.bz2").write_bytes(bz2.compress(b"hello"))
    files, findings = unpack_attachment("申报表.docx.gz", tmp_path / "申报表.docx.gz", tmp_path / "o1", UnpackLimits())
    assert findings == [] and _by_name(files) == {"申报表.docx": form}
    files, findings = unpack_attachment("b.bz2", tmp_path / "b.bz2", tmp_path / "o2", UnpackLimits())
    assert findings == [] and _by_name(files) == {"b": b"hello"}


def test_archives_inside_archives_carry_their_path(tmp_path: Path) -> None:
    inner = seven_zip(tmp_path / "照片.7z", {"图1.jpg": jpeg_bytes()})
    middle = windows_gbk_zip(tmp_path / "middle.zip", {"附件/照片.7z": inner.read_bytes(), "正文.pdf": b"%PDF"},
                             tmp_path)
    outer = tar_archive(tmp_path / "outer.tgz", {"材料.zip": middle.read_bytes()})
    files, findings = unpack_attachment("总.tgz", outer, tmp_path / "out", UnpackLimits())
    assert findings == []
    got = {(f.name, f.archive, f.depth) for f in files}
    assert got == {("材料.zip/附件/照片.7z/图1.jpg", "总.tgz/材料.zip/附件/照片.7z", 3),
                   ("材料.zip/正文.pdf", "总.tgz/材料.zip", 2)}
    # Containers are not left on disk once their members are out.
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(f.path.name for f in files)


def test_office_documents_are_not_unpacked(tmp_path: Path) -> None:
    form = application_form_docx(tmp_path / "申报表.docx")
    assert archive_kind(form) is None
    files, findings = unpack_attachment("申报表.docx", form, tmp_path / "out", UnpackLimits())
    assert findings == [] and [f.name for f in files] == ["申报表.docx"] and files[0].depth == 0
    assert files[0].path.read_bytes() == form.read_bytes() and files[0].archive is None


def test_plain_attachment_is_kept_under_a_safe_name(tmp_path: Path) -> None:
    photo = tmp_path / "../照片.jpg".replace("../", "")
    photo.write_bytes(jpeg_bytes())
    files, findings = unpack_attachment("../../照片.jpg", photo, tmp_path / "out", UnpackLimits())
    assert findings == []
    assert files[0].name == "../../照片.jpg"  # the original name is kept for the record, never used on disk
    assert files[0].path.parent == tmp_path / "out" and files[0].path.name == "00001.jpg"


def test_type_is_told_by_magic_not_extension(tmp_path: Path) -> None:
    disguised = seven_zip(tmp_path / "disguised.jpg", {"a.txt": b"a"})
    files, _ = unpack_attachment("photo.jpg", disguised, tmp_path / "out", UnpackLimits())
    assert [f.name for f in files] == ["a.txt"]


# --- names ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["谩谩.docx", "实践创新案例申报表.docx", "案例文字材料（终稿）.pdf", "镕堃学校照片1.jpg", "学生合影.JPG",
                                  "新疆生产建设兵团第一师.docx", "媒体报道-人民教育.pdf"])
def test_gbk_names_decode_as_chinese(text: str) -> None:
    assert decode_legacy_name(text.encode("gbk")) == (text, True)


@pytest.mark.parametrize("text", ["表だよ/一覧表.txt", "新規テキスト ドキュメント.txt", "漢字.txt", "ファイル名.docx"])
def test_cp932_names_decode_as_japanese(text: str) -> None:
    assert decode_legacy_name(text.encode("cp932")) == (text, True)


@pytest.mark.parametrize("text", ["申报表（盖章版）.pdf", "Ⓐ💡.txt", "表だよ.txt"])
def test_unflagged_utf8_names_decode_as_utf8(text: str) -> None:
    assert decode_legacy_name(text.encode()) == (text, True)


def test_undecodable_names_become_escapes_never_replacement_chars() -> None:
    name, ok = decode_legacy_name(b"bad\xff\xfe\x80.txt")
    assert not ok and "\ufffd" not in name and name == "bad%FF%FE%80.txt"


def _gb2312_hanzi() -> list[str]:
    chars = []
    for lead in range(0xB0, 0xF8):
        for trail in range(0xA1, 0xFF):
            try:
                chars.append(bytes([lead, trail]).decode("gb2312"))
            except UnicodeDecodeError:
                continue  # D7FA-D7FE are unassigned
    return chars


GB2312_HANZI = st.sampled_from(_gb2312_hanzi())


@settings(max_examples=300, deadline=None)
@given(st.lists(GB2312_HANZI, min_size=2, max_size=12), st.sampled_from([".docx", ".pdf", ".jpg", ""]))
def test_any_common_chinese_name_round_trips_through_gbk(chars: list[str], suffix: str) -> None:
    name = "".join(chars) + suffix
    assert decode_legacy_name(name.encode("gbk")) == (name, True)


@pytest.mark.parametrize("raw,expected,unsafe", [
    ("../../etc/passwd", "etc/passwd", True),
    ("/abs/x.txt", "abs/x.txt", True),
    ("C:\\Users\\张三\\桌面\\申报表.docx", "Users/张三/桌面/申报表.docx", True),
    ("材料\\照片\\1.jpg", "材料/照片/1.jpg", False),
    ("a.txt\x00.jpg", "a.txt", True),
    ("./正文.pdf", "正文.pdf", False),
    ("..", "未命名", True),
])
def test_member_names_are_made_relative(raw: str, expected: str, unsafe: bool) -> None:
    assert clean_member_name(raw) == (expected, unsafe)


def test_a_loose_attachment_keeps_the_parsers_hash_and_is_not_read_again(tmp_path: Path) -> None:
    """The parser hashes each attachment as it writes it: unpacking a loose file takes that hash instead of
    reading the file again. Members of an archive are hashed as they are written out, as before."""
    from ingest.mail.mime_stream import parse_file
    from ingest.samples.mails import Attachment, build_mail

    photo, form = jpeg_bytes(), application_form_docx(tmp_path / "申报表.docx").read_bytes()
    packed = tmp_path / "packed.zip"
    with zipfile.ZipFile(packed, "w") as zf:
        zf.writestr("照片2.jpg", photo + b"2")
    raw = build_mail(style="qq", sender="a@qq.com", to="zj@163.com", subject="浙江省+案例+劳动教育", body="见附件",
                     attachments=[Attachment("照片1.jpg", photo, "image/jpeg"),
                                  Attachment("申报表.docx", form, "application/octet-stream"),
                                  Attachment("材料.zip", packed.read_bytes(), "application/zip")])
    (tmp_path / "mail.eml").write_bytes(raw)
    parsed = parse_file(tmp_path / "mail.eml", tmp_path / "parts")
    for index, part in enumerate(parsed.attachments):
        assert part.path is not None
        trusted, _ = unpack_attachment(part.name, part.path, tmp_path / f"t{index}", sha256=part.sha256)
        read, _ = unpack_attachment(part.name, part.path, tmp_path / f"r{index}")
        assert [(f.name, f.size, f.sha256) for f in trusted] == [(f.name, f.size, f.sha256) for f in read]
        for f in read:
            assert f.sha256 == hashlib.sha256(f.path.read_bytes()).hexdigest()
    # Taken, not recomputed: a hash the file does not have comes back as given (so a wrong caller would show).
    loose = parsed.attachments[0]
    assert loose.path is not None
    given_hash = "0" * 64
    files, _ = unpack_attachment(loose.name, loose.path, tmp_path / "given", sha256=given_hash)
    assert [f.sha256 for f in files] == [given_hash]
    inner, _ = unpack_attachment("材料.zip", packed, tmp_path / "zip", sha256=given_hash)
    assert [f.sha256 for f in inner] == [hashlib.sha256(photo + b"2").hexdigest()]
