"""Photo rules (四.4(4)) on real JPEG/PNG files: "photo-count", "photo-format", "photo-size", "photo-decodes",
"photo-dimensions", "photo-caption"."""

from __future__ import annotations

from pathlib import Path

from checks.facts import FileFacts
from ingest.samples import files as samples
from test_rules_support import failures, file_facts, only_passes, run, submission


def photos(n: int, kind: str = "photo_small.jpg") -> list[FileFacts]:
    return [file_facts(kind, "photo", f"图{i}：学生参加劳动实践.jpg") for i in range(1, n + 1)]


def test_photo_count_eight_pass_nine_fail() -> None:
    assert only_passes(run("photo-count", submission(*photos(8))))
    (bad,) = failures(run("photo-count", submission(*photos(9))))
    assert bad.severity == "reject" and bad.evidence["measured"] == 9 and "8张" in bad.message


def test_photo_count_no_photos_is_fine_for_2025_but_not_for_a_call_requiring_five() -> None:
    assert only_passes(run("photo-count", submission()))
    (bad,) = failures(run("photo-count", submission(*photos(3)), min_count=5))
    assert "少于要求的5张" in bad.message


def test_photo_format_real_jpeg_passes() -> None:
    assert only_passes(run("photo-format", submission(file_facts("photo_2.1mb.jpg", "photo"))))


def test_photo_format_png_renamed_jpg_fails() -> None:
    (bad,) = failures(run("photo-format", submission(file_facts("png_renamed.jpg", "photo", "校园活动.jpg"))))
    assert bad.evidence["measured"] == "PNG" and "只改了扩展名" in bad.message and bad.file == "校园活动.jpg"


def test_photo_size_2_1_mb_passes_1_9_mb_fails() -> None:
    assert only_passes(run("photo-size", submission(file_facts("photo_2.1mb.jpg", "photo"))))
    (bad,) = failures(run("photo-size", submission(file_facts("photo_1.9mb.jpg", "photo", "校园活动3.jpg"))))
    assert bad.severity == "reject"
    assert bad.message.startswith("照片“校园活动3.jpg”大小为1.9 MB，低于要求的2 MB（四.4(4)）")
    assert "原图" in bad.fix


def test_photo_size_upper_limit_from_config() -> None:
    (bad,) = failures(run("photo-size", submission(file_facts("photo_2.1mb.jpg", "photo")), min_bytes=0,
                          max_bytes=2 * 1024 * 1024))
    assert "超过2 MB的上限" in bad.message


def test_photo_decodes_complete_passes_truncated_fails() -> None:
    assert only_passes(run("photo-decodes", submission(file_facts("photo_2.1mb.jpg", "photo"))))
    (bad,) = failures(run("photo-decodes", submission(file_facts("truncated.jpg", "photo"))))
    assert "截断" in bad.message


def test_photo_dimensions_long_edge_from_config() -> None:
    big = file_facts("photo_2.1mb.jpg", "photo")
    small = file_facts("photo_small.jpg", "photo")
    assert only_passes(run("photo-dimensions", submission(big), min_long_edge=1500))
    (bad,) = failures(run("photo-dimensions", submission(big, small), min_long_edge=1500))
    # The sample's height is trimmed to hit its byte size and its noise is not seeded: the message must name the
    # size the reader measured on this very file.
    assert small.image is not None and small.image.width == 640 and small.image.long_edge < 1500
    assert bad.file == "photo_small.jpg" and f"640×{small.image.height}" in bad.message


def test_photo_caption_from_file_name() -> None:
    (ok,) = run("photo-caption", submission(file_facts("photo_small.jpg", "photo", "图1：学生在劳动基地种植蔬菜.jpg")))
    assert ok.passed and "文件名" in ok.message


def test_photo_caption_missing_for_a_camera_name() -> None:
    camera = file_facts("photo_small.jpg", "photo", "IMG_20251103_101512.jpg")
    (bad,) = failures(run("photo-caption", submission(camera)))
    assert bad.severity == "warn" and bad.file == "IMG_20251103_101512.jpg"


def test_photo_caption_from_a_caption_list(tmp_path: Path) -> None:
    captions = samples.make_caption_docx(tmp_path / "图片说明.docx",
                                        ["图1：学生在劳动基地种植蔬菜", "图2：家长开放日课堂展示"])
    facts = submission(file_facts("photo_small.jpg", "photo", "1.jpg"), file_facts("photo_small.jpg", "photo", "2.jpg"),
                       file_facts(captions, "auxiliary"))
    (ok,) = run("photo-caption", facts)
    assert ok.passed and "图片说明文件2张" in ok.message
    # Photo 3 is not in the list.
    facts3 = submission(*facts.files, file_facts("photo_small.jpg", "photo", "3.jpg"))
    (bad,) = failures(run("photo-caption", facts3))
    assert bad.file == "3.jpg"


def test_photo_caption_from_the_text_material(tmp_path: Path) -> None:
    from docx import Document

    doc = Document()
    doc.add_paragraph("一、基本情况")
    doc.add_paragraph("图3 学生在科技节上展示机器人作品")
    doc.save(str(tmp_path / "文字材料.docx"))
    facts = submission(file_facts("photo_small.jpg", "photo", "DSC_0003.jpg"),
                       file_facts(tmp_path / "文字材料.docx", "text"))
    # "DSC_0003" gives number 3 → "图3" in the text.
    (ok,) = run("photo-caption", facts)
    assert ok.passed and "文字材料" in ok.message
