"""四.2(1) 推荐名额: a provincial department recommends 1–2 cases per category and at most 10 in all.

Cases count in the order they were received (then by case number). The per-category limit is applied first; the
total limit then counts the cases still within their category limit, so a third case in one category does not
also use up one of the ten places (the same order ``intake stats`` uses). Staff are told which cases count.

Quota groups are parameters: other calls limit per county or per school (``group_by = "city"`` /
``"organization"``) with other numbers. ``only_where`` / ``except_where`` (optional) pick the cases a group counts
by the values of their fields, e.g. a city's directly administered schools (``only_where = {city = ["株洲市"]}``)
apart from the counties' cases (``except_where = {city = ["株洲市"]}``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterator, Mapping

from checks.facts import SubmissionFacts
from checks.registry import REGISTRY, Check, Params
from checks.rules.common import listing, quoted

_GROUP_KEYS = {"label": str, "submitter_kind": str, "group_by": str, "per_category_max": int, "total_max": int}
_GROUP_BY = ("province", "city", "organization", "sender")
_OPTIONAL_KEYS = ("only_where", "except_where")
_WHERE_FIELDS = ("province", "city", "organization", "submitter_kind")
_THIS = "本案例"


def _validate(params: Params) -> None:
    for i, group in enumerate(params["groups"]):
        where = f"groups[{i}]"
        stray = sorted(set(group) - set(_GROUP_KEYS) - set(_OPTIONAL_KEYS))
        if stray:
            raise ValueError(f"{where}: unknown key {stray[0]!r} (allowed: {', '.join(sorted(_GROUP_KEYS))})")
        for key, kind in _GROUP_KEYS.items():
            if key not in group:
                raise ValueError(f"{where}: missing key {key!r}")
            if not isinstance(group[key], kind) or isinstance(group[key], bool):
                raise ValueError(f"{where}.{key}: expected {kind.__name__}, got {group[key]!r}")
        if group["group_by"] not in _GROUP_BY:
            raise ValueError(f"{where}.group_by must be one of {', '.join(_GROUP_BY)}")
        if group["per_category_max"] < 0 or group["total_max"] < 0:
            raise ValueError(f"{where}: limits cannot be negative (0 means no limit)")
        for key in _OPTIONAL_KEYS:
            table = group.get(key, {})
            if not isinstance(table, Mapping) or not all(
                    field in _WHERE_FIELDS and isinstance(values, (list, tuple))
                    and all(isinstance(v, str) for v in values) for field, values in table.items()):
                raise ValueError(f"{where}.{key}: expected a table of {', '.join(_WHERE_FIELDS)} = [values]")


def _selected(group: Mapping[str, Any], values: Mapping[str, str | None]) -> bool:
    """Whether a case with these field values belongs to the group (its only_where / except_where)."""
    only: Mapping[str, Any] = group.get("only_where", {})
    unless: Mapping[str, Any] = group.get("except_where", {})
    if any(values.get(field) not in allowed for field, allowed in only.items()):
        return False
    return not any(values.get(field) in refused for field, refused in unless.items())


def _values(case: Any) -> dict[str, str | None]:
    return {field: getattr(case, field, None) for field in _WHERE_FIELDS}


@dataclass(frozen=True)
class _Entry:
    case_no: str  # "" for the submission being checked when it has no number yet
    case_name: str | None
    category_no: int | None
    received_at: datetime
    current: bool


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo is not None else t.replace(tzinfo=timezone.utc)


def _shown(e: _Entry) -> str:
    if e.current:
        return _THIS
    return e.case_no + (quoted(e.case_name) if e.case_name else "")


def _key_of(facts: SubmissionFacts, group_by: str) -> str | None:
    if group_by == "sender":
        return facts.sender.lower() or None
    value = getattr(facts.subject, group_by)
    return str(value) if value else None


_DEFAULT_GROUPS: list[Mapping[str, Any]] = [
    {"label": "省级教育行政部门推荐", "submitter_kind": "province", "group_by": "province",
     "per_category_max": 2, "total_max": 10},
]


@REGISTRY.rule(id="quota", clause="四.2(1)", severity="warn", title="推荐名额",
               params={"groups": (list[dict], _DEFAULT_GROUPS), "ignore_statuses": (list[str], [])},
               validate=_validate)
def quota(facts: SubmissionFacts, params: Params) -> Iterator[Check]:
    ignored = set(params["ignore_statuses"])
    applied = False
    for group in params["groups"]:
        kind, group_by, label = group["submitter_kind"], group["group_by"], group["label"]
        if kind and facts.subject.submitter_kind != kind or not _selected(group, _values(facts.subject)):
            continue
        applied = True
        key = _key_of(facts, group_by)
        if key is None:
            yield Check(False, f"{label}：未能识别报送单位的{_FIELD_ZH[group_by]}，无法核对推荐名额，请工作人员核对。",
                        milder="info")
            continue
        entries = [_Entry(p.case_no, p.case_name, p.category_no, _aware(p.received_at), False)
                   for p in facts.prior
                   if p.status not in ignored and (not kind or p.submitter_kind == kind)
                   and _selected(group, _values(p)) and _prior_key(p, group_by) == key and p.case_no != facts.case_no]
        entries.append(_Entry(facts.case_no, facts.subject.case_name, facts.subject.category_no,
                              _aware(facts.received_at), True))
        yield _judge(entries, group, key)
    if not applied:
        labels = "、".join(g["label"] for g in params["groups"])
        yield Check(True, f"本案例不属于{labels}，不占推荐名额。")


_FIELD_ZH = {"province": "省份", "city": "市县", "organization": "单位", "sender": "发件邮箱"}


def _prior_key(p: Any, group_by: str) -> str | None:
    value = p.sender.lower() if group_by == "sender" else getattr(p, group_by)
    return str(value) if value else None


def _judge(entries: list[_Entry], group: Mapping[str, Any], key: str) -> Check:
    per_cat, total_max, label = group["per_category_max"], group["total_max"], group["label"]
    # Received order; on a tie the case being checked goes last (it is the newcomer).
    entries.sort(key=lambda e: (e.received_at, e.current, e.case_no))
    in_category: dict[int | None, list[_Entry]] = {}
    counting: list[_Entry] = []
    verdict: str | None = None
    for e in entries:
        same = in_category.setdefault(e.category_no, [])
        same.append(e)
        exceeds = None
        if per_cat and e.category_no is not None and len(same) > per_cat:
            exceeds = "category"
        elif total_max and len(counting) >= total_max:
            exceeds = "total"
        else:
            counting.append(e)
        if e.current:
            verdict = exceeds
    this = next(e for e in entries if e.current)
    evidence = {"group": label, "key": key, "counted": len(counting), "per_category_max": per_cat,
                "total_max": total_max, "counting": ",".join(_shown(e) for e in counting)}
    if verdict == "category":
        same = in_category[this.category_no]
        kept = [e for e in same if e in counting]
        return Check(False, f"{label}：{key}在第{this.category_no}类已报送{len(same)}个案例，本案例是第"
                            f"{same.index(this) + 1}个，超出每类1—{per_cat}个的名额（四.2(1)）。"
                            f"该类计入名额的是：{listing(_shown(e) for e in kept)}。",
                     evidence=evidence,
                     fix=f"请省级教育行政部门确认该类别推荐的{per_cat}个案例，并告知征集工作组撤回其余案例。")
    if verdict == "total":
        return Check(False, f"{label}：{key}已有{len(counting)}个案例计入名额，本案例超出总数不超过{total_max}个的"
                            f"限额（四.2(1)）。计入名额的是：{listing((_shown(e) for e in counting), limit=12)}。",
                     evidence=evidence,
                     fix=f"请省级教育行政部门确认推荐的{total_max}个案例，并告知征集工作组撤回其余案例。")
    place = f"第{this.category_no}类第{in_category[this.category_no].index(this) + 1}个，" if this.category_no else ""
    limits = "，".join(x for x in (f"每类不超过{per_cat}个" if per_cat else "", f"总数不超过{total_max}个" if total_max else "")
                      if x)
    return Check(True, f"{label}：本案例为{key}{place}计入名额的第{counting.index(this) + 1}个"
                       f"{'（' + limits + '）' if limits else ''}。", evidence=evidence)
