"""Names of archive members: decoding names stored without a declared encoding, and making them safe.

Pure functions of the bytes and strings an archive reader hands over; nothing here touches the filesystem.
"""

from __future__ import annotations

import re
import struct
import unicodedata
import zipfile

def _plausible_utf8(char: str) -> float:
    code = ord(char)
    if 0x3400 <= code <= 0x9FFF or 0x3000 <= code <= 0x30FF or 0xFF01 <= code <= 0xFF5E:
        return 1.0  # CJK ideographs, CJK punctuation, kana, full-width forms
    if 0x2000 <= code <= 0x27BF or 0xAC00 <= code <= 0xD7A3 or code >= 0x1F000:
        return 1.0  # punctuation/symbols/enclosed letters, Hangul, emoji
    if 0x00C0 <= code <= 0x024F:
        # Accented Latin is real but, in this population, far rarer than GBK hanzi whose bytes happen to form
        # valid UTF-8 (谩谩 = C3 A1 C3 A1 = "áá"), so a GB2312 reading of the same bytes wins.
        return 0.5
    return 0.0


def _plausible_gbk(char: str) -> float:
    try:
        char.encode("gb2312")
        return 1.0  # the 6,763 common simplified characters, full-width forms and punctuation
    except UnicodeEncodeError:
        return 0.5 if 0x3400 <= ord(char) <= 0x9FFF else 0.0  # GBK-only ideographs (镕, 堃) are real but rarer


def _plausible_cp932(char: str) -> float:
    code = ord(char)
    if 0x3040 <= code <= 0x30FF:
        return 1.0  # hiragana, katakana
    if 0xFF61 <= code <= 0xFF9F:
        return 0.25  # half-width katakana: what GBK bytes mostly turn into when read as CP932
    try:
        lead = char.encode("cp932")[0]
    except UnicodeEncodeError:
        return 0.0
    # Symbols (0x81-0x84) and JIS level-1 kanji (0x88-0x98) are common; level-2 kanji are rarer.
    return 1.0 if lead <= 0x84 or 0x88 <= lead <= 0x98 else 0.5


_NAME_CANDIDATES = (("utf-8", _plausible_utf8), ("gb18030", _plausible_gbk), ("cp932", _plausible_cp932))


def decode_legacy_name(raw: bytes) -> tuple[str, bool]:
    """Decode a file name stored without a declared encoding; returns (name, decoded_cleanly).

    Heuristic: decode strictly as UTF-8 (Mac and Linux packers), GB18030 (Chinese Windows: GBK is a subset) and
    CP932 (Japanese Windows); keep the decodings that round-trip to the same bytes and hold no control/private-use
    characters; score each by the share of its non-ASCII characters that are plausible for that encoding (GB2312
    membership for GBK, kana and level-1 kanji for CP932, CJK/Latin letters for UTF-8); the highest mean wins,
    ties going to the earlier candidate.
    Bytes no candidate can decode become %XX escapes (never U+FFFD) and decoded_cleanly is False.
    """
    try:
        return raw.decode("ascii"), True
    except UnicodeDecodeError:
        pass
    best: tuple[float, str] | None = None
    for encoding, plausible in _NAME_CANDIDATES:
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError:
            continue
        if text.encode(encoding) != raw or any(unicodedata.category(c) in ("Cc", "Co", "Cn") for c in text):
            continue  # control, private-use and unassigned characters are never a real name
        wide = [c for c in text if ord(c) > 0x7F]
        score = sum(plausible(c) for c in wide) / max(len(wide), 1)
        if best is None or score > best[0]:
            best = (score, text)
    if best is not None and best[0] > 0:
        return best[1], True
    return "".join(chr(b) if b < 0x80 else f"%{b:02X}" for b in raw), False


_DRIVE = re.compile(r"^[A-Za-z]:")


def clean_member_name(name: str) -> tuple[str, bool]:
    """A relative, "/"-joined logical name for an archive member, and whether the original was unsafe.

    Backslashes become "/" only after decoding (0x5C is a valid GBK/CP932 trail byte, e.g. 表 = 95 5C in CP932).
    Unsafe: NUL (the name is cut there, as unzip does), a drive letter, an absolute path, ".." components.
    """
    unsafe = False
    if "\x00" in name:
        name, unsafe = name.split("\x00", 1)[0], True
    name = name.replace("\\", "/")
    if _DRIVE.match(name):
        name, unsafe = name[2:], True
    if name.startswith("/"):
        unsafe = True
    parts: list[str] = []
    for part in name.split("/"):
        if part == "..":
            unsafe = True
        elif part not in ("", "."):
            parts.append("".join("_" if ord(c) < 0x20 or c == "\x7f" else c for c in part))
    return "/".join(parts) or "未命名", unsafe


def zip_entry_name(info: zipfile.ZipInfo, raw: bytes) -> tuple[str, bool]:
    """A ZIP entry's name and whether its encoding was known: UTF-8 by flag bit 11, the 0x7075 Unicode Path field,
    else guessed."""
    if info.flag_bits & 0x800:
        try:
            return raw.decode("utf-8"), True
        except UnicodeDecodeError:
            pass
    unicode_path = _info_zip_unicode_path(info.extra)
    if unicode_path is not None:
        # The field's CRC of the legacy name is not checked: real archivers compute it inconsistently (corpus
        # zip_7075_utf8_paths, where libarchive and Info-ZIP also take the field as is).
        return unicode_path, True
    return decode_legacy_name(raw)


def _info_zip_unicode_path(extra: bytes) -> str | None:
    offset = 0
    while offset + 4 <= len(extra):
        field_id, length = struct.unpack_from("<HH", extra, offset)
        data = extra[offset + 4:offset + 4 + length]
        if field_id == 0x7075 and len(data) > 5 and data[0] == 1:
            try:
                return data[5:].decode("utf-8")
            except UnicodeDecodeError:
                return None
        offset += 4 + length
    return None


def strip_compression_suffix(name: str) -> str:
    """The name of what a .gz/.bz2/.xz stream holds (``a.tgz`` → ``a.tar``, ``a.txt.gz`` → ``a.txt``)."""
    lowered = name.lower()
    if lowered.endswith(".tgz"):
        return name[:-4] + ".tar"
    for suffix in (".gz", ".gzip", ".bz2", ".xz"):
        if lowered.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name + ".解压"
