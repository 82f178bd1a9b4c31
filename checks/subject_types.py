"""What the subject parser is given and what it returns: categories, the campaign's subject spec, doubts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from checks.domain import IDENTITY_FIELDS, CaseIdentity
from checks.subject_text import name_key

# ---------------------------------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Category:
    no: int
    name: str  # canonical name, as the call writes it (“五育并举”育人)
    aliases: tuple[str, ...] = ()
    # The category's own topics (三 of the call: 劳动, 心理健康 → (三)). They name the category only where a
    # category stands (end of the subject, after 类别：), because case names are full of them.
    topics: tuple[str, ...] = ()


_SUBJECT_KEYS = {"template", "required_marker", "template_words", "review_below", "example_province",
                 "example_organization", "example_case_name", "category_required", "prescribed"}
_CATEGORY_KEYS = {"no", "name", "aliases", "topics"}


@dataclass(frozen=True)
class SubjectSpec:
    """What a campaign says about subjects: its categories and the format it asks for."""

    categories: tuple[Category, ...]
    template: str = ""
    required_marker: str = ""  # text every subject must carry ("" for none)
    template_words: tuple[str, ...] = ()  # words of the template senders leave in; removed before parsing
    review_below: float = 0.8  # confidence below which a subject goes to staff review
    # Calls whose subjects name no category (the categories only sort cases) do not send a subject without
    # one to review.
    category_required: bool = True
    # False when the call prescribes no subject format (Zhuzhou, MoE): a subject that cannot be read is no reason
    # for review when the fields can be read from the mail and its attachments.
    prescribed: bool = True
    # Placeholders of the example subject shown to senders when a part was not understood.
    example_province: str = "XX省"
    example_organization: str = "XX学校"
    example_case_name: str = "案例名称"

    @classmethod
    def from_campaign(cls, campaign: Mapping[str, Any]) -> SubjectSpec:
        """Build from the parsed ``[campaign]`` TOML table (its ``subject`` table and ``categories`` array)."""
        subject = campaign.get("subject", {})
        if not isinstance(subject, Mapping):
            raise ValueError("campaign.subject：应为表")
        unknown = sorted(set(subject) - _SUBJECT_KEYS)
        if unknown:
            raise ValueError(f"campaign.subject：未知的配置项 {unknown[0]!r}（可用：{'、'.join(sorted(_SUBJECT_KEYS))}）")
        raw_categories = campaign.get("categories")
        if not isinstance(raw_categories, Sequence) or isinstance(raw_categories, str) or not raw_categories:
            raise ValueError("campaign.categories：应为非空的表数组（[[campaign.categories]]）")
        categories = tuple(_category_from_table(i, table) for i, table in enumerate(raw_categories))
        _check_categories(categories)
        texts = {key: subject.get(key, default) for key, default in (
            ("template", ""), ("required_marker", ""), ("example_province", "XX省"),
            ("example_organization", "XX学校"), ("example_case_name", "案例名称"))}
        for key, value in texts.items():
            if not isinstance(value, str):
                raise ValueError(f"campaign.subject.{key}：应为字符串，实际是 {value!r}")
        words = subject.get("template_words", [])
        if not isinstance(words, Sequence) or isinstance(words, str) or not all(
                isinstance(w, str) and w.strip() for w in words):
            raise ValueError("campaign.subject.template_words：应为非空字符串的数组")
        review_below = subject.get("review_below", 0.8)
        if isinstance(review_below, bool) or not isinstance(review_below, int | float) or not 0 <= review_below <= 1:
            raise ValueError(f"campaign.subject.review_below：应为 0 到 1 之间的数，实际是 {review_below!r}")
        category_required = subject.get("category_required", True)
        if not isinstance(category_required, bool):
            raise ValueError(f"campaign.subject.category_required：应为 true 或 false，实际是 {category_required!r}")
        prescribed = subject.get("prescribed", True)
        if not isinstance(prescribed, bool):
            raise ValueError(f"campaign.subject.prescribed：应为 true 或 false，实际是 {prescribed!r}")
        return cls(categories=categories, template=texts["template"], required_marker=texts["required_marker"],
                   template_words=tuple(words), review_below=float(review_below), category_required=category_required,
                   prescribed=prescribed,
                   example_province=texts["example_province"], example_organization=texts["example_organization"],
                   example_case_name=texts["example_case_name"])

    def category(self, no: int | None) -> Category | None:
        return next((c for c in self.categories if c.no == no), None)


def _category_from_table(index: int, table: Any) -> Category:
    where = f"campaign.categories[{index}]"
    if not isinstance(table, Mapping):
        raise ValueError(f"{where}：应为表")
    unknown = sorted(set(table) - _CATEGORY_KEYS)
    if unknown:
        raise ValueError(f"{where}：未知的配置项 {unknown[0]!r}（可用：aliases、name、no、topics）")
    no, name, aliases, topics = table.get("no"), table.get("name"), table.get("aliases", []), table.get("topics", [])
    if isinstance(no, bool) or not isinstance(no, int) or not 1 <= no <= 99:
        raise ValueError(f"{where}.no：应为 1 到 99 的整数，实际是 {no!r}")
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"{where}.name：应为非空字符串")
    if not isinstance(aliases, Sequence) or isinstance(aliases, str) or not all(
            isinstance(a, str) and a.strip() for a in aliases):
        raise ValueError(f"{where}.aliases：应为非空字符串的数组")
    if not isinstance(topics, Sequence) or isinstance(topics, str) or not all(
            isinstance(t, str) and t.strip() for t in topics):
        raise ValueError(f"{where}.topics：应为非空字符串的数组")
    return Category(no=no, name=name.strip(), aliases=tuple(a.strip() for a in aliases),
                    topics=tuple(t.strip() for t in topics))


def _check_categories(categories: tuple[Category, ...]) -> None:
    seen_no: set[int] = set()
    owner: dict[str, int] = {}
    for category in categories:
        if category.no in seen_no:
            raise ValueError(f"campaign.categories：编号 {category.no} 用了两次")
        seen_no.add(category.no)
        for text in (category.name, *category.aliases, *category.topics):
            key = name_key(text)
            if not key:
                raise ValueError(f"campaign.categories：类别 {category.no} 的名称或别名为空")
            if owner.get(key, category.no) != category.no:
                raise ValueError(f"campaign.categories：{text!r} 同时指向类别 {owner[key]} 和类别 {category.no}")
            owner[key] = category.no


# ---------------------------------------------------------------------------------------------------------------
# Result
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Doubt:
    """One reason for less than full confidence."""

    code: str
    reason: str  # plain Chinese, for staff
    factor: float  # multiplies the confidence
    blocking: bool = False  # always needs review, whatever the threshold


@dataclass(frozen=True)
class ParsedSubject(CaseIdentity):
    """A case's identity as the subject gives it (its fields first, in CaseIdentity's order; the submitter kind is
    always set: "province" for a provincial department's recommendation, else "unit"), and how sure we are."""

    part: str | None = None  # "1/3", "2" …
    confidence: float = 1.0
    needs_review: bool = False
    reasons: tuple[str, ...] = ()
    raw: str = ""
    doubts: tuple[Doubt, ...] = ()

    @property
    def identity(self) -> CaseIdentity:
        """Just the case fields, as the plain value stores, rules and replies pass on."""
        return CaseIdentity(**{name: getattr(self, name) for name in IDENTITY_FIELDS})

    def to_json(self) -> dict[str, Any]:
        return {**self.identity.as_dict(), "part": self.part, "confidence": self.confidence,
                "needs_review": self.needs_review, "reasons": list(self.reasons), "raw": self.raw}


def with_doubts(parsed: ParsedSubject, doubts: Sequence[Doubt], spec: SubjectSpec) -> ParsedSubject:
    """The result with these doubts (each once), their product as confidence, and whether it needs review."""
    unique = tuple({d.code + d.reason: d for d in doubts}.values())
    confidence = 1.0
    for doubt in unique:
        confidence *= doubt.factor
    confidence = round(min(1.0, max(0.0, confidence)), 3)
    needs_review = confidence < spec.review_below or any(d.blocking for d in unique)
    return replace(parsed, doubts=unique, confidence=confidence, needs_review=needs_review,
                   reasons=tuple(d.reason for d in unique))
