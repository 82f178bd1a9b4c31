"""四.2(1) 推荐名额: a provincial department recommends 1–2 cases per category and at most 10 in all.

Cases count in the order they were received (then by case number). The per-category limit is applied first; the
total limit then counts the cases still within their category limit, so a third case in one category does not
also use up one of the ten places (the same order ``intake stats`` uses). Staff are told which cases count.

Quota groups are parameters: other calls limit per county or per school (``group_by = "city"`` /
``"organization"``) with other numbers. ``only_where`` / ``except_where`` (optional) pick the cases a group counts
by the values of their fields, e.g. a city's directly administered schools (``only_where = {city = ["株洲市"]}``)
apart from the counties' cases (``except_where = {city = ["株洲市"]}``).

The computation (``QuotaGroup``, ``rank``, ``Quota.overruns``) is the one place quotas are worked out: the rule
uses it for the case being checked, and ``intake stats`` and the console use it over every stored case, with the
campaign's own groups (``Quota.of_rules``), so staff see exactly the verdicts the receipts gave.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterable, Iterator, Mapping, Sequence

from checks.domain import CaseIdentity, Severity
from checks.facts import PriorSubmission, SubmissionFacts
from checks.registry import REGISTRY, Check, ConfiguredRules, Params
from checks.rules.common import listing, quoted

_GROUP_KEYS = {"label": str, "submitter_kind": str, "group_by": str, "per_category_max": int, "total_max": int}
_GROUP_BY = ("province", "city", "organization", "sender")
_OPTIONAL_KEYS = ("only_where", "except_where")
_WHERE_FIELDS = ("province", "city", "organization", "submitter_kind")
_FIELD_ZH = {"province": "省份", "city": "市县", "organization": "单位", "sender": "发件邮箱"}
_THIS = "本案例"
CATEGORY, TOTAL = "category", "total"  # which limit a case exceeds


def _validate(params: Params) -> None:
    for i, group in enumerate(params["groups"]):
        where = f"groups[{i}]"
        stray = sorted(set(group) - set(_GROUP_KEYS) - set(_OPTIONAL_KEYS))
        if stray:
            raise ValueError(f"{where}：未知的配置项 {stray[0]!r}（可用：{'、'.join(sorted(_GROUP_KEYS))}）")
        for key, kind in _GROUP_KEYS.items():
            if key not in group:
                raise ValueError(f"{where}：缺少必填项 {key!r}")
            if not isinstance(group[key], kind) or isinstance(group[key], bool):
                raise ValueError(f"{where}.{key}：应为{'整数' if kind is int else '字符串'}，实际是 {group[key]!r}")
        if group["group_by"] not in _GROUP_BY:
            raise ValueError(f"{where}.group_by：只能是 {'、'.join(_GROUP_BY)} 之一")
        if group["per_category_max"] < 0 or group["total_max"] < 0:
            raise ValueError(f"{where}：名额不能为负数（0 表示不限）")
        for key in _OPTIONAL_KEYS:
            table = group.get(key, {})
            if not isinstance(table, Mapping) or not all(
                    field in _WHERE_FIELDS and isinstance(values, (list, tuple))
                    and all(isinstance(v, str) for v in values) for field, values in table.items()):
                raise ValueError(f"{where}.{key}：应为 {'、'.join(_WHERE_FIELDS)} = [取值列表] 形式的表")


@dataclass(frozen=True)
class QuotaGroup:
    """One quota: the cases it counts (by submitter kind and field values), grouped by one field, and its limits."""

    label: str
    submitter_kind: str  # "" counts every submitter
    group_by: str  # province, city, organization or sender
    per_category_max: int  # 0: no limit
    total_max: int  # 0: no limit
    only_where: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    except_where: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def from_table(cls, table: Mapping[str, Any]) -> QuotaGroup:
        """A group from one validated ``groups`` entry of the rule's parameters."""
        def where(key: str) -> dict[str, tuple[str, ...]]:
            return {name: tuple(values) for name, values in table.get(key, {}).items()}

        return cls(label=table["label"], submitter_kind=table["submitter_kind"], group_by=table["group_by"],
                   per_category_max=table["per_category_max"], total_max=table["total_max"],
                   only_where=where("only_where"), except_where=where("except_where"))

    @property
    def grouped_by(self) -> str:
        """The grouping field in Chinese (省份, 市县 …)."""
        return _FIELD_ZH[self.group_by]

    @property
    def limits(self) -> str:
        """The limits in words, e.g. "每类不超过2个，总数不超过10个" ("" when there is none)."""
        return "，".join(x for x in (f"每类不超过{self.per_category_max}个" if self.per_category_max else "",
                                    f"总数不超过{self.total_max}个" if self.total_max else "") if x)

    def covers(self, who: CaseIdentity) -> bool:
        """Whether the group counts a case of this identity (its submitter kind, only_where / except_where)."""
        if self.submitter_kind and who.submitter_kind != self.submitter_kind:
            return False
        values = {name: getattr(who, name) for name in _WHERE_FIELDS}
        if any(values.get(name) not in allowed for name, allowed in self.only_where.items()):
            return False
        return not any(values.get(name) in refused for name, refused in self.except_where.items())

    def key(self, who: CaseIdentity, sender: str) -> str | None:
        """The value a case is grouped by (its province, city, unit or sender address); None when unknown."""
        value = sender.lower() if self.group_by == "sender" else getattr(who, self.group_by)
        return str(value) if value else None


@dataclass(frozen=True)
class QuotaEntry:
    """One case as a quota counts it."""

    case_no: str  # "" for the submission being checked when it has no number yet
    case_name: str | None
    category_no: int | None
    received_at: datetime
    current: bool = False  # the submission being checked (it goes last on a tie: it is the newcomer)


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo is not None else t.replace(tzinfo=timezone.utc)


def rank(entries: Iterable[QuotaEntry], group: QuotaGroup) -> tuple[tuple[QuotaEntry, str | None], ...]:
    """The cases of one group key in the order they count (received order; on a tie the one being checked last,
    then by case number), each with None when it counts, ``CATEGORY`` or ``TOTAL`` for the limit it exceeds.
    The per-category limit is applied first; the total limit then counts the cases within their category's."""
    ordered = sorted(entries, key=lambda e: (_aware(e.received_at), e.current, e.case_no))
    in_category: dict[int | None, int] = {}
    counting = 0
    ranked: list[tuple[QuotaEntry, str | None]] = []
    for e in ordered:
        in_category[e.category_no] = in_category.get(e.category_no, 0) + 1
        exceeds: str | None = None
        if group.per_category_max and e.category_no is not None and in_category[e.category_no] > group.per_category_max:
            exceeds = CATEGORY
        elif group.total_max and counting >= group.total_max:
            exceeds = TOTAL
        else:
            counting += 1
        ranked.append((e, exceeds))
    return tuple(ranked)


@dataclass(frozen=True)
class QuotaCase:
    """A stored case in a quota overrun, and whether it counts."""

    case_no: str
    category_no: int | None
    category: str | None
    organization: str | None
    case_name: str | None
    first_received_at: datetime
    status: str
    exceeds: str | None  # None when the case counts; CATEGORY or TOTAL says which limit it exceeds


@dataclass(frozen=True)
class QuotaOverrun:
    """One group key (a province, a county, a school …) over its quota."""

    group: QuotaGroup
    key: str
    total: int
    over_total: bool
    categories_over: tuple[int | None, ...]
    cases: tuple[QuotaCase, ...]  # every case of the key, in the order they count

    @property
    def counted(self) -> tuple[QuotaCase, ...]:
        return tuple(c for c in self.cases if c.exceeds is None)

    @property
    def exceeding(self) -> tuple[QuotaCase, ...]:
        return tuple(c for c in self.cases if c.exceeds is not None)


@dataclass(frozen=True)
class Quota:
    """A campaign's quota groups, as its ``[campaign.rules."quota"]`` table configures them."""

    groups: tuple[QuotaGroup, ...]
    ignore_statuses: frozenset[str] = frozenset()

    @classmethod
    def from_params(cls, params: Params) -> Quota:
        return cls(groups=tuple(QuotaGroup.from_table(g) for g in params["groups"]),
                   ignore_statuses=frozenset(params["ignore_statuses"]))

    @classmethod
    def of_rules(cls, rules: ConfiguredRules) -> Quota:
        """The configured quota; no groups when the campaign does not run the quota rule."""
        rule = rules.get("quota")
        return cls(groups=()) if rule is None else cls.from_params(rule.params)

    def members(self, group: QuotaGroup, cases: Iterable[PriorSubmission]) -> Iterator[PriorSubmission]:
        """The stored cases the group counts."""
        return (p for p in cases if p.status not in self.ignore_statuses and group.covers(p.identity))

    def overruns(self, cases: Sequence[PriorSubmission]) -> tuple[QuotaOverrun, ...]:
        """Every group key over its quota among these stored cases: group by group, the largest first."""
        out: list[QuotaOverrun] = []
        for group in self.groups:
            by_key: dict[str, list[PriorSubmission]] = {}
            for p in self.members(group, cases):
                key = group.key(p.identity, p.sender)
                if key is not None:
                    by_key.setdefault(key, []).append(p)
            found = [o for key, members in by_key.items() if (o := _overrun(group, key, members)) is not None]
            out += sorted(found, key=lambda o: (-o.total, o.key))
        return tuple(out)

    def to_json(self) -> list[dict[str, Any]]:
        return [{"label": g.label, "submitter_kind": g.submitter_kind, "group_by": g.group_by,
                 "per_category_max": g.per_category_max, "total_max": g.total_max} for g in self.groups]


def _overrun(group: QuotaGroup, key: str, members: Sequence[PriorSubmission]) -> QuotaOverrun | None:
    by_no = {p.case_no: p for p in members}
    ranked = rank((QuotaEntry(p.case_no, p.identity.case_name, p.identity.category_no, p.received_at)
                   for p in members), group)
    if all(exceeds is None for _, exceeds in ranked):
        return None
    per_category: dict[int, int] = {}
    for p in members:
        if p.identity.category_no is not None:
            per_category[p.identity.category_no] = per_category.get(p.identity.category_no, 0) + 1
    cases = tuple(QuotaCase(e.case_no, e.category_no, by_no[e.case_no].identity.category,
                            by_no[e.case_no].identity.organization, e.case_name, by_no[e.case_no].received_at,
                            by_no[e.case_no].status, exceeds) for e, exceeds in ranked)
    over = tuple(sorted(no for no, n in per_category.items() if group.per_category_max and n > group.per_category_max))
    return QuotaOverrun(group=group, key=key, total=len(members),
                        over_total=bool(group.total_max) and len(members) > group.total_max,
                        categories_over=over, cases=cases)


def _shown(e: QuotaEntry) -> str:
    if e.current:
        return _THIS
    return e.case_no + (quoted(e.case_name) if e.case_name else "")


_DEFAULT_GROUPS: list[Mapping[str, Any]] = [
    {"label": "省级教育行政部门推荐", "submitter_kind": "province", "group_by": "province",
     "per_category_max": 2, "total_max": 10},
]


@REGISTRY.rule(id="quota", clause="四.2(1)", severity=Severity.WARN, title="推荐名额",
               params={"groups": (list[dict], _DEFAULT_GROUPS), "ignore_statuses": (list[str], [])},
               validate=_validate)
def quota(facts: SubmissionFacts, params: Params) -> Iterator[Check]:
    config = Quota.from_params(params)
    applied = False
    for group in config.groups:
        if not group.covers(facts.subject):
            continue
        applied = True
        key = group.key(facts.subject, facts.sender)
        if key is None:
            yield Check(False, f"{group.label}：未能识别报送单位的{group.grouped_by}，无法核对推荐名额，请工作人员核对。",
                        milder=Severity.INFO)
            continue
        entries = [QuotaEntry(p.case_no, p.identity.case_name, p.identity.category_no, p.received_at)
                   for p in config.members(group, facts.prior)
                   if group.key(p.identity, p.sender) == key and p.case_no != facts.case_no]
        entries.append(QuotaEntry(facts.case_no, facts.subject.case_name, facts.subject.category_no,
                                  facts.received_at, current=True))
        yield _judge(rank(entries, group), group, key)
    if not applied:
        labels = "、".join(g.label for g in config.groups)
        yield Check(True, f"本案例不属于{labels}，不占推荐名额。")


def _judge(ranked: Sequence[tuple[QuotaEntry, str | None]], group: QuotaGroup, key: str) -> Check:
    per_cat, total_max, label = group.per_category_max, group.total_max, group.label
    counting = [e for e, exceeds in ranked if exceeds is None]
    this, verdict = next((e, exceeds) for e, exceeds in ranked if e.current)
    same = [e for e, _ in ranked if e.category_no == this.category_no]
    evidence = {"group": label, "key": key, "counted": len(counting), "per_category_max": per_cat,
                "total_max": total_max, "counting": ",".join(_shown(e) for e in counting)}
    if verdict == CATEGORY:
        kept = [e for e in same if e in counting]
        return Check(False, f"{label}：{key}在第{this.category_no}类已报送{len(same)}个案例，本案例是第"
                            f"{same.index(this) + 1}个，超出每类1—{per_cat}个的名额（四.2(1)）。"
                            f"该类计入名额的是：{listing(_shown(e) for e in kept)}。",
                     evidence=evidence,
                     fix=f"请省级教育行政部门确认该类别推荐的{per_cat}个案例，并告知征集工作组撤回其余案例。")
    if verdict == TOTAL:
        return Check(False, f"{label}：{key}已有{len(counting)}个案例计入名额，本案例超出总数不超过{total_max}个的"
                            f"限额（四.2(1)）。计入名额的是：{listing((_shown(e) for e in counting), limit=12)}。",
                     evidence=evidence,
                     fix=f"请省级教育行政部门确认推荐的{total_max}个案例，并告知征集工作组撤回其余案例。")
    place = f"第{this.category_no}类第{same.index(this) + 1}个，" if this.category_no else ""
    limits = group.limits
    return Check(True, f"{label}：本案例为{key}{place}计入名额的第{counting.index(this) + 1}个"
                       f"{'（' + limits + '）' if limits else ''}。", evidence=evidence)
