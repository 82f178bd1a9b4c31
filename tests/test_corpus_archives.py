"""Every archive of tests/data/corpus/libarchive (real WinRAR 4/5, 7-Zip, WinZip, Info-ZIP output) gives the result
tests/data/corpus/README.md states for it.  Expected names and bytes come from libarchive's own tests for each sample."""

from __future__ import annotations

from pathlib import Path

import pytest

from archive_factory import CORPUS
from ingest.files.unpack import ExtractedFile, Finding, UnpackLimits, unpack_attachment

LIBARCHIVE = CORPUS / "libarchive"

# name -> size of every regular file the sample holds
PLAIN: dict[str, dict[str, int]] = {
    "rar.rar": {"test.txt": 20, "testdir/test.txt": 20},
    "rar_compress_normal.rar": {"LibarchiveAddingTest.html": 20111, "testdir/test.txt": 20,
                                "testdir/LibarchiveAddingTest.html": 20111},
    "rar5_stored.rar": {"helloworld.txt": 29},
    "rar5_multiple_files.rar": {f"test{i}.bin": 4096 for i in range(1, 5)},
    "rar5_solid.rar": {"test.bin": 1200, **{f"test{i}.bin": 4096 for i in range(1, 7)}},
    "7zip_lzma1.7z": {"file1": 2844},
    "7zip_ppmd.7z": {"ppmd_test.txt": 102400},
    "zip_lzma.zipx": {"vimrc": 912},
    "rar_unicode.rar": {"表だよ/新しいフォルダ/新規テキスト ドキュメント.txt": 0,
                        "表だよ/漢字長いファイル名long-filename-in-漢字.txt": 5, "abcdefghijklmnopqrsテスト.txt": 16},
    "rar5_unicode.rar": {"👋🌎.txt": 13},
    "zip_filename_utf8_jp.zip": {"表だよ/一覧表.txt": 5, "表だよ/漢字.txt": 5},
    "zip_filename_cp932.zip": {"表だよ/一覧表.txt": 5, "表だよ/漢字.txt": 5},
    "zip_7075_utf8_paths.zip": {"File 1.txt": 9, "File 2 - ö.txt": 9, "File 3 - ä.txt": 9, "File 4 - å.txt": 9},
    "rar5_zip_in_rar.rar": {"payload/inner.zip/THIS_IS_INSIDE_THE_ZIP.txt": 13, "payload/real_after.txt": 21},
    "zip_nested.zip": {"small.zip/another_file.txt": 29, "file.txt": 53},
    "rar5_symlink.rar": {"file.txt": 5},
    "zip_symlink.zip": {"file": 5},
}
CONTENT = {("rar5_stored.rar", "helloworld.txt"): b"hello libarchive test suite!\n",
           ("zip_nested.zip", "small.zip/another_file.txt"): b"Only this file is displayed.\n",
           ("zip_nested.zip", "file.txt"): b"The zip archive metadata is not displayed correctly.\n"}
LINKS = {"rar.rar": ["testlink"], "rar_compress_normal.rar": ["testlink"], "rar5_symlink.rar": ["symlink.txt", "dirlink"],
         "zip_symlink.zip": ["symlink"], "rar_unicode.rar": ["表だよ/ファイル"],
         "rar5_unicode.rar": ["Ⓗⓐⓡⓓ Ⓛⓘⓝⓚ.txt", "𝒮𝓎𝓂𝒷𝑜𝓁𝒾𝒸 𝐿𝒾𝓃𝓀.txt"]}
ENCRYPTED = ["rar4_encrypted.rar", "rar4_encrypted_filenames.rar", "rar5_encrypted.rar",
             "rar5_encrypted_filenames.rar", "7zip_encryption.7z", "7zip_encryption_header.7z",
             "zip_traditional_encryption_data.zip", "zip_winzip_aes256.zip", "zip_encryption_header.zip"]
# Members stored without a password next to encrypted ones (libarchive's tests read them).
READABLE_BESIDE_ENCRYPTED = {"rar4_encrypted.rar": {"a.txt", "c.txt"}, "rar5_encrypted.rar": {"a.txt", "c.txt"}}


def _unpack(sample: str, tmp_path: Path) -> tuple[list[ExtractedFile], list[Finding]]:
    dest = tmp_path / "out"
    files, findings = unpack_attachment(sample, LIBARCHIVE / sample, dest, UnpackLimits())
    for entry in dest.iterdir():
        assert entry.is_file() and not entry.is_symlink()
    assert not any(p.is_symlink() for p in tmp_path.rglob("*"))
    return files, findings


def test_every_corpus_archive_is_covered() -> None:
    present = {p.name for p in LIBARCHIVE.iterdir() if p.name != "COPYING"}
    assert present == set(PLAIN) | set(ENCRYPTED), "a corpus file without a stated expectation"


@pytest.mark.parametrize("sample", sorted(PLAIN))
def test_names_and_bytes(sample: str, tmp_path: Path) -> None:
    files, findings = _unpack(sample, tmp_path)
    assert {f.name: f.size for f in files} == PLAIN[sample]
    for f in files:
        assert "\ufffd" not in f.name and "%" not in f.name
        assert f.path.stat().st_size == f.size
        if (sample, f.name) in CONTENT:
            assert f.path.read_bytes() == CONTENT[(sample, f.name)]
    assert [x.path for x in findings if x.code == "archive.symlink"] == LINKS.get(sample, [])
    assert [x for x in findings if x.code != "archive.symlink"] == []


@pytest.mark.parametrize("sample", ENCRYPTED)
def test_encrypted_are_recognised(sample: str, tmp_path: Path) -> None:
    files, findings = _unpack(sample, tmp_path)
    assert [f.code for f in findings] == ["archive.encrypted"]
    assert "密码" in findings[0].message and "重新" in findings[0].message
    readable = READABLE_BESIDE_ENCRYPTED.get(sample)
    if readable:
        assert {f.name for f in files} == readable
    else:
        assert [f.name for f in files] == [sample]  # nothing readable: the archive itself is kept for staff
