"""Hostile archives: bombs, deep nesting, zip slip, links and devices, encryption, truncation, too many entries.

Every case must end without an exception, with nothing written outside the extraction directory, with disk and
memory bounded, and with a clear finding in Chinese.
"""

from __future__ import annotations

import io
import os
import shutil
import tarfile
import tracemalloc
import zipfile
from pathlib import Path

import pytest

from archive_factory import (CORPUS, encrypted_docx, infozip_raw_names, jpeg_bytes, seven_zip, sevenzip_cli_zip,
                             tar_archive, utf8_zip)
from ingest.files.unpack import ExtractedFile, Finding, UnpackLimits, unpack_attachment

MiB = 1 << 20


def _zeros_zip(target: Path, members: int, mebibytes: int) -> Path:
    chunk = bytes(MiB)
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for index in range(members):
            with archive.open(f"{index}.bin", "w", force_zip64=True) as member:
                for _ in range(mebibytes):
                    member.write(chunk)
    return target


def _run(tmp_path: Path, name: str, source: Path,
         limits: UnpackLimits = UnpackLimits()) -> tuple[list[ExtractedFile], list[Finding], Path]:
    outside_before = {p for p in tmp_path.rglob("*")}
    dest = tmp_path / "out"
    files, findings = unpack_attachment(name, source, dest, limits)
    created_outside = {p for p in tmp_path.rglob("*") if dest not in p.parents and p != dest} - outside_before
    assert created_outside == set(), f"written outside dest_dir: {created_outside}"
    for entry in dest.iterdir():
        assert entry.is_file() and not entry.is_symlink(), entry  # flat, regular files only
    assert {f.path for f in files} == set(dest.iterdir())  # nothing left behind that is not reported
    for finding in findings:
        assert finding.message and any("\u4e00" <= c <= "\u9fff" for c in finding.message)
    return files, findings, dest


def _codes(findings: list[Finding]) -> list[str]:
    return [f.code for f in findings]


def _disk_bytes(dest: Path) -> int:
    return sum(p.stat().st_size for p in dest.iterdir())


def test_zip_bomb_stops_early_and_cleans_up(tmp_path: Path) -> None:
    bomb = _zeros_zip(tmp_path / "bomb.zip", 1, 256)
    files, findings, dest = _run(tmp_path, "bomb.zip", bomb)
    assert "archive.bomb" in _codes(findings)
    assert _disk_bytes(dest) <= bomb.stat().st_size  # the partial member was removed; only the archive kept
    assert [f.name for f in files] == ["bomb.zip"]


def test_gzip_bomb_through_libarchive(tmp_path: Path) -> None:
    import gzip

    target = tmp_path / "data.gz"
    with gzip.open(target, "wb") as out:
        for _ in range(128):
            out.write(b"A" * MiB)  # not zeros: libarchive reads a stream of zeros as an empty tar
    files, findings, dest = _run(tmp_path, "data.gz", target)
    assert "archive.bomb" in _codes(findings)
    assert _disk_bytes(dest) <= target.stat().st_size


def test_total_bytes_limit_is_enforced_on_written_bytes(tmp_path: Path) -> None:
    archive = utf8_zip(tmp_path / "big.zip", {f"{i}.bin": os.urandom(MiB) for i in range(6)})
    limits = UnpackLimits(max_total_bytes=4 * MiB)
    files, findings, dest = _run(tmp_path, "big.zip", archive, limits)
    assert "archive.too_large" in _codes(findings)
    assert _disk_bytes(dest) <= 4 * MiB


def test_42_zip_style_nesting(tmp_path: Path) -> None:
    level = _zeros_zip(tmp_path / "lib.zip", 16, 4)
    for depth in range(4):  # five levels in all, sixteen copies at each, as 42.zip
        data = level.read_bytes()
        level = utf8_zip(tmp_path / f"level{depth}.zip", {f"lib {c}.zip": data for c in "0123456789abcdef"})
    files, findings, dest = _run(tmp_path, "42.zip", level)
    codes = _codes(findings)
    assert "archive.bomb" in codes or "archive.too_deep" in codes
    assert _disk_bytes(dest) <= UnpackLimits().max_total_bytes
    assert max(f.depth for f in files) <= UnpackLimits().max_depth


def test_nesting_deeper_than_the_limit_is_reported_once_and_kept(tmp_path: Path) -> None:
    inner = utf8_zip(tmp_path / "d3.zip", {"photo.jpg": jpeg_bytes()})
    for depth in (2, 1, 0):
        inner = utf8_zip(tmp_path / f"d{depth}.zip", {f"d{depth + 1}.zip": inner.read_bytes(),
                                                       f"copy{depth + 1}.zip": inner.read_bytes()})
    files, findings, dest = _run(tmp_path, "d0.zip", inner, UnpackLimits(max_depth=2))
    assert _codes(findings) == ["archive.too_deep"]  # one finding, not one per copy
    assert {f.depth for f in files} == {2} and all(f.name.endswith(".zip") for f in files)


def test_zip_slip_and_absolute_paths_stay_inside(tmp_path: Path) -> None:
    archive = utf8_zip(tmp_path / "slip.zip", {"../../evil.txt": b"x", "/tmp/abs.txt": b"y",
                                                "C:\\Windows\\win.ini": b"z", "ok/正文.pdf": b"%PDF"})
    files, findings, _ = _run(tmp_path, "slip.zip", archive)
    assert sorted(f.name for f in files) == ["Windows/win.ini", "evil.txt", "ok/正文.pdf", "tmp/abs.txt"]
    assert _codes(findings).count("archive.unsafe_path") == 3
    assert not (tmp_path.parent / "evil.txt").exists() and not Path("/tmp/abs.txt").exists()


def test_nul_byte_in_a_zip_name(tmp_path: Path) -> None:
    # zipfile cannot write a NUL into a name, so a real archive is edited as an attacker would: the same-length
    # placeholder in both the local and the central header becomes "a.txt\0.jpg".
    archive = utf8_zip(tmp_path / "nul.zip", {"a.txtX.jpg": b"payload"})
    archive.write_bytes(archive.read_bytes().replace(b"a.txtX.jpg", b"a.txt\x00.jpg"))
    files, findings, _ = _run(tmp_path, "nul.zip", archive)
    assert [f.name for f in files] == ["a.txt"] and "archive.unsafe_path" in _codes(findings)


def test_tar_slip_links_and_devices(tmp_path: Path) -> None:
    target = tmp_path / "evil.tar"
    with tarfile.open(target, "w") as archive:
        for name, kind, link in (("../escape.txt", tarfile.REGTYPE, ""), ("passwd", tarfile.SYMTYPE, "/etc/passwd"),
                                 ("up", tarfile.SYMTYPE, "../../.."), ("hard", tarfile.LNKTYPE, "../escape.txt"),
                                 ("dev/zero", tarfile.CHRTYPE, ""), ("fifo", tarfile.FIFOTYPE, "")):
            info = tarfile.TarInfo(name)
            info.type, info.linkname = kind, link
            data = b"escaped" if kind == tarfile.REGTYPE else b""
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    files, findings, _ = _run(tmp_path, "evil.tar", target)
    assert [f.name for f in files] == ["escape.txt"]
    codes = _codes(findings)
    assert codes.count("archive.symlink") == 3 and codes.count("archive.special_file") == 2
    assert "archive.unsafe_path" in codes


def test_infozip_symlinks_are_never_created(tmp_path: Path) -> None:
    source = tmp_path / "linksrc"
    source.mkdir()
    (source / "real.txt").write_bytes(b"real")
    os.symlink("/etc/passwd", source / "passwd")
    os.symlink("../../../outside", source / "outside")
    archive = tmp_path / "links.zip"
    import subprocess

    subprocess.run(["zip", "-q", "-y", "-r", str(archive), "."], cwd=source, check=True)
    files, findings, _ = _run(tmp_path, "links.zip", archive)
    assert [f.name for f in files] == ["real.txt"]
    assert _codes(findings).count("archive.symlink") == 2
    assert any("/etc/passwd" in f.message for f in findings)


def _assert_encrypted(findings: list[Finding]) -> None:
    encrypted = [f for f in findings if f.code == "archive.encrypted"]
    assert encrypted, findings
    assert all("密码" in f.message and "重新" in f.message for f in encrypted)


def test_infozip_password_zip(tmp_path: Path) -> None:
    archive = infozip_raw_names(tmp_path / "pw.zip", {"申报表.docx".encode("gbk"): b"secret form"}, tmp_path,
                                "-P", "secret")
    files, findings, _ = _run(tmp_path, "pw.zip", archive)
    _assert_encrypted(findings)
    assert [f.name for f in files] == ["pw.zip"]  # kept whole for staff; nothing came out
    assert "申报表.docx" in findings[0].message


def test_7zip_aes_zip(tmp_path: Path) -> None:
    archive = sevenzip_cli_zip(tmp_path / "aes.zip", {"a.txt": b"a" * 100}, tmp_path, "-psecret", "-mem=AES256")
    _, findings, _ = _run(tmp_path, "aes.zip", archive)
    _assert_encrypted(findings)


@pytest.mark.parametrize("header", [False, True])
def test_py7zr_encrypted_7z(tmp_path: Path, header: bool) -> None:
    archive = seven_zip(tmp_path / "pw.7z", {"正文.docx": b"x" * 100}, password="secret", encrypt_header=header)
    _, findings, _ = _run(tmp_path, "pw.7z", archive)
    _assert_encrypted(findings)


@pytest.mark.parametrize("sample", ["rar4_encrypted.rar", "rar5_encrypted.rar", "rar4_encrypted_filenames.rar",
                                    "rar5_encrypted_filenames.rar"])
def test_encrypted_rar(tmp_path: Path, sample: str) -> None:
    source = CORPUS / "libarchive" / sample
    _, findings, _ = _run(tmp_path, sample, source)
    _assert_encrypted(findings)


def test_encrypted_docx_alone_and_inside_a_zip(tmp_path: Path) -> None:
    document = encrypted_docx(tmp_path / "申报表.docx", tmp_path)
    files, findings, _ = _run(tmp_path, "申报表.docx", document)
    assert _codes(findings) == ["office.encrypted"] and [f.name for f in files] == ["申报表.docx"]
    shutil.rmtree(tmp_path / "out")
    archive = utf8_zip(tmp_path / "材料.zip", {"表/申报表.docx": document.read_bytes()})
    files, findings, _ = _run(tmp_path, "材料.zip", archive)
    assert [(f.code, f.path) for f in findings] == [("office.encrypted", "表/申报表.docx")]


def _truncate(path: Path) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


@pytest.mark.parametrize("maker", ["zip", "7z", "tgz", "rar"])
def test_truncated_archives(tmp_path: Path, maker: str) -> None:
    payload = {f"{i}.bin": os.urandom(40_000) for i in range(4)}
    if maker == "zip":
        source = utf8_zip(tmp_path / "t.zip", payload)
    elif maker == "7z":
        source = seven_zip(tmp_path / "t.7z", payload)
    elif maker == "tgz":
        source = tar_archive(tmp_path / "t.tgz", payload)
    else:
        sample = CORPUS / "libarchive" / "rar_compress_normal.rar"
        source = tmp_path / "t.rar"
        shutil.copyfile(sample, source)
    _truncate(source)
    _, findings, _ = _run(tmp_path, source.name, source)
    assert "archive.corrupt" in _codes(findings)


def test_ten_thousand_and_one_entries(tmp_path: Path) -> None:
    archive = utf8_zip(tmp_path / "many.zip", {f"f{i}.txt": b"" for i in range(10_001)})
    files, findings, _ = _run(tmp_path, "many.zip", archive)
    assert _codes(findings) == ["archive.too_many_entries"]
    assert len(files) <= 10_000


def test_members_are_streamed_not_held_in_memory(tmp_path: Path) -> None:
    payload = os.urandom(48 * MiB)
    stored = tmp_path / "stored.zip"
    with zipfile.ZipFile(stored, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("video.mp4", payload)
    tarball = tar_archive(tmp_path / "t.tar", {"video.mp4": payload}, mode="w")
    del payload
    for source in (stored, tarball):
        tracemalloc.start()
        files, findings = unpack_attachment(source.name, source, tmp_path / f"out_{source.suffix[1:]}")
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert findings == [] and files[0].size == 48 * MiB
        assert peak < 8 * MiB, f"{source.name}: peak {peak} bytes"
