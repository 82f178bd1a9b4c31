"""The rule engine: rules registered with their clause, severity and typed parameters; configured from the
campaign's TOML; run over a submission's facts; and the verdict that follows from the findings.

Mistakes in a rule's declaration fail when the module is imported, mistakes in the campaign's rule table fail in
``configure`` (both at start-up, as one line). At run time a rule that crashes becomes a ``rule-error`` finding:
the submission is kept and goes to staff review.
"""

from __future__ import annotations

import datetime as dt
import inspect
import logging
import re
from dataclasses import dataclass, field
from types import MappingProxyType, NoneType, UnionType
from typing import Any, Callable, Iterable, Iterator, Mapping, Union, get_args, get_origin

from checks.domain import Severity, SubmissionStatus
from checks.facts import SubmissionFacts

log = logging.getLogger(__name__)

RULE_ERROR = "rule-error"
_RESERVED_KEYS = frozenset({"enabled", "severity", "clause"})
_RULE_ID = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$")

Params = Mapping[str, Any]


@dataclass(frozen=True)
class Finding:
    rule: str
    clause: str
    severity: str  # reject / warn / info
    passed: bool
    message: str  # plain Chinese: what was checked or what is wrong, with the measured value and the limit
    file: str | None = None
    evidence: Mapping[str, Any] = field(default_factory=dict)  # e.g. {"measured": 1992294, "limit": 2097152}
    fix: str = ""  # plain Chinese: how to put it right (empty when passed)


@dataclass(frozen=True)
class Check:
    """What a rule function yields; the engine adds the rule id, clause and configured severity."""

    passed: bool
    message: str
    file: str | None = None
    evidence: Mapping[str, Any] = field(default_factory=dict)
    fix: str = ""
    clause: str | None = None  # only when one rule enforces two clauses and this check is about the other one
    milder: str | None = None  # "warn" or "info": this finding is less grave than the rule's configured severity


RuleFunction = Callable[[SubmissionFacts, Params], Iterable[Check]]
ParamValidator = Callable[[Params], None]


# ---------------------------------------------------------------------------------------------------------------
# Parameter types: int, float, str, bool, datetime.date, list[str|int|float|dict], and "X | None" (absent = None)
# ---------------------------------------------------------------------------------------------------------------

_SCALARS: tuple[type, ...] = (int, float, str, bool, dt.date, dict)


def _describe(kind: Any) -> str:
    if isinstance(kind, UnionType) or get_origin(kind) is Union:
        inner = [a for a in get_args(kind) if a is not NoneType]
        return f"{_describe(inner[0])}（可省略）"
    if get_origin(kind) is list:
        return f"由{_describe(get_args(kind)[0])}组成的列表"
    return {int: "整数", float: "数字", str: "字符串", bool: "true 或 false",
            dt.date: "日期（例如 2025-12-10）", dict: "表"}.get(kind, repr(kind))


def _supported(kind: Any) -> bool:
    if isinstance(kind, UnionType) or get_origin(kind) is Union:
        args = get_args(kind)
        return len(args) == 2 and NoneType in args and _supported(next(a for a in args if a is not NoneType))
    if get_origin(kind) is list:
        (inner,) = get_args(kind)
        return inner in _SCALARS
    return kind in _SCALARS


def _coerce(kind: Any, value: Any) -> Any:
    """The value converted to ``kind``; raises ``TypeError`` when it does not fit."""
    if isinstance(kind, UnionType) or get_origin(kind) is Union:
        if value is None:
            return None
        return _coerce(next(a for a in get_args(kind) if a is not NoneType), value)
    if get_origin(kind) is list:
        if not isinstance(value, (list, tuple)):
            raise TypeError
        (inner,) = get_args(kind)
        return tuple(_coerce(inner, v) for v in value)
    if kind is bool:
        if not isinstance(value, bool):
            raise TypeError
        return value
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError
        return value
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError
        return float(value)
    if kind is str:
        if not isinstance(value, str):
            raise TypeError
        return value
    if kind is dt.date:
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        if isinstance(value, str):
            try:
                return dt.date.fromisoformat(value)
            except ValueError:
                raise TypeError from None
        raise TypeError
    if kind is dict:
        if not isinstance(value, Mapping):
            raise TypeError
        return MappingProxyType(dict(value))
    raise TypeError


@dataclass(frozen=True)
class ParamSpec:
    name: str
    kind: Any
    default: Any
    from_campaign: str | None = None  # dotted key of the [campaign] table used when the rule table omits it


@dataclass(frozen=True)
class RuleSpec:
    id: str
    clause: str
    severity: str
    title: str  # short Chinese name shown to staff ("照片大小")
    params: Mapping[str, ParamSpec]
    function: RuleFunction
    validate: ParamValidator | None = None


@dataclass(frozen=True)
class ConfiguredRule:
    spec: RuleSpec
    severity: str
    params: Params
    # The clause of this campaign's call the rule enforces, when it is not the one the rule was written for
    # (the 2025 call's "四.4(3)" is "四.2" in another call); messages cite it instead.
    clause: str | None = None

    @property
    def id(self) -> str:
        return self.spec.id


@dataclass(frozen=True)
class ConfiguredRules:
    rules: tuple[ConfiguredRule, ...]

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(r.id for r in self.rules)

    def get(self, rule_id: str) -> ConfiguredRule | None:
        return next((r for r in self.rules if r.id == rule_id), None)


class RuleRegistry:
    def __init__(self) -> None:
        self._rules: dict[str, RuleSpec] = {}

    def __iter__(self) -> Iterator[RuleSpec]:
        return iter(self._rules.values())

    def __len__(self) -> int:
        return len(self._rules)

    def __contains__(self, rule_id: object) -> bool:
        return rule_id in self._rules

    def get(self, rule_id: str) -> RuleSpec:
        return self._rules[rule_id]

    def rule(self, *, id: str, clause: str, severity: str, title: str,
             params: Mapping[str, tuple[Any, Any]] | None = None,
             from_campaign: Mapping[str, str] | None = None,
             validate: ParamValidator | None = None) -> Callable[[RuleFunction], RuleFunction]:
        """Register a rule; every mistake in the declaration raises ``ValueError`` at import time.

        ``params`` maps a name to ``(type, default)``; ``from_campaign`` maps a parameter to a dotted key of the
        ``[campaign]`` table it defaults to (e.g. the deadline); ``validate`` checks the configured values."""
        spec_params = self._check_declaration(id, clause, severity, title, params or {}, from_campaign or {})

        def register(function: RuleFunction) -> RuleFunction:
            positional = [p for p in inspect.signature(function).parameters.values()
                          if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
            if len(positional) != 2:
                raise ValueError(f"rule {id!r}: the function must take (facts, params)")
            self._rules[id] = RuleSpec(id=id, clause=clause, severity=severity, title=title,
                                       params=MappingProxyType(spec_params), function=function, validate=validate)
            if validate is not None:
                try:
                    validate(MappingProxyType({n: p.default for n, p in spec_params.items()}))
                except ValueError as exc:
                    del self._rules[id]
                    raise ValueError(f"rule {id!r}: default parameters are invalid: {exc}") from exc
            return function

        return register

    def _check_declaration(self, rule_id: str, clause: str, severity: str, title: str,
                           params: Mapping[str, tuple[Any, Any]],
                           from_campaign: Mapping[str, str]) -> dict[str, ParamSpec]:
        if not isinstance(rule_id, str) or not _RULE_ID.match(rule_id) or rule_id == RULE_ERROR:
            raise ValueError(f"rule id {rule_id!r} must be lower-case words joined by '-' (and not {RULE_ERROR!r})")
        if rule_id in self._rules:
            raise ValueError(f"rule {rule_id!r} is registered twice")
        if not isinstance(clause, str) or not clause.strip():
            raise ValueError(f"rule {rule_id!r} must name the clause it enforces, e.g. '四.4(4)'")
        if severity not in Severity.codes():
            raise ValueError(f"rule {rule_id!r}: severity must be one of {', '.join(Severity)}, got {severity!r}")
        if not isinstance(title, str) or not title.strip():
            raise ValueError(f"rule {rule_id!r} needs a Chinese title")
        out: dict[str, ParamSpec] = {}
        for name, declared in params.items():
            if name in _RESERVED_KEYS or not re.match(r"^[a-z][a-z0-9_]*$", name):
                raise ValueError(f"rule {rule_id!r}: bad parameter name {name!r}")
            if not isinstance(declared, tuple) or len(declared) != 2:
                raise ValueError(f"rule {rule_id!r}: parameter {name!r} must be declared as (type, default)")
            kind, default = declared
            if not _supported(kind):
                raise ValueError(f"rule {rule_id!r}: parameter {name!r} has an unsupported type {kind!r}")
            try:
                value = _coerce(kind, default)
            except TypeError:
                shown = kind.__name__ if isinstance(kind, type) else str(kind)  # for the rule's author, in English
                raise ValueError(f"rule {rule_id!r}: default of {name!r} is not {shown}: {default!r}") from None
            out[name] = ParamSpec(name=name, kind=kind, default=value, from_campaign=from_campaign.get(name))
        stray = sorted(set(from_campaign) - set(out))
        if stray:
            raise ValueError(f"rule {rule_id!r}: from_campaign names unknown parameter {stray[0]!r}")
        return out

    # -----------------------------------------------------------------------------------------------------------

    def configure(self, rules_table: Mapping[str, Any],
                  campaign: Mapping[str, Any] | None = None) -> ConfiguredRules:
        """The rules to run, from ``[campaign.rules."ID"]`` tables. A rule runs when it has a table and is not
        ``enabled = false``. Raises ``ValueError`` (one Chinese line for the organiser, keys as written) on any
        unknown id, key or bad value."""
        if not isinstance(rules_table, Mapping):
            raise ValueError("应为若干 [campaign.rules.\"规则编号\"] 表")
        unknown = sorted(set(rules_table) - set(self._rules))
        if unknown:
            raise ValueError(f"未知的规则 {unknown[0]!r}（已有的规则：{'、'.join(self._rules)}）")
        configured: list[ConfiguredRule] = []
        for spec in self._rules.values():
            if spec.id not in rules_table:
                continue
            table = rules_table[spec.id]
            if not isinstance(table, Mapping):
                raise ValueError(f"规则 {spec.id!r}：应为参数表，实际是 {table!r}")
            rule = self._configure_one(spec, table, campaign or {})
            if rule is not None:
                configured.append(rule)
        return ConfiguredRules(rules=tuple(configured))

    @staticmethod
    def _configure_one(spec: RuleSpec, table: Mapping[str, Any],
                       campaign: Mapping[str, Any]) -> ConfiguredRule | None:
        allowed = set(spec.params) | _RESERVED_KEYS
        stray = sorted(set(table) - allowed)
        if stray:
            raise ValueError(f"规则 {spec.id!r}：未知的参数 {stray[0]!r}（可用：{'、'.join(sorted(allowed))}）")
        enabled = table.get("enabled", True)
        if not isinstance(enabled, bool):
            raise ValueError(f"规则 {spec.id!r}：enabled 应为 true 或 false，实际是 {enabled!r}")
        severity = table.get("severity", spec.severity)
        if severity not in Severity.codes():
            raise ValueError(f"规则 {spec.id!r}：severity 只能是 {'、'.join(Severity)} 之一，实际是 {severity!r}")
        values: dict[str, Any] = {}
        for name, param in spec.params.items():
            if name in table:
                raw, where = table[name], f"规则 {spec.id!r} 的参数 {name!r}"
            elif param.from_campaign and _lookup(campaign, param.from_campaign) is not None:
                raw, where = _lookup(campaign, param.from_campaign), f"campaign.{param.from_campaign}（规则 {spec.id!r} 使用）"
            else:
                values[name] = param.default
                continue
            try:
                values[name] = _coerce(param.kind, raw)
            except TypeError:
                raise ValueError(f"{where}：应为{_describe(param.kind)}，实际是 {raw!r}") from None
        params = MappingProxyType(values)
        if spec.validate is not None:
            try:
                spec.validate(params)
            except ValueError as exc:
                raise ValueError(f"规则 {spec.id!r}：{exc}") from exc
        clause = table.get("clause")
        if clause is not None and not isinstance(clause, str):
            raise ValueError(f"规则 {spec.id!r}：clause 应为字符串，例如 '四.2'，实际是 {clause!r}")
        return ConfiguredRule(spec=spec, severity=severity, params=params, clause=clause) if enabled else None


def _lookup(table: Mapping[str, Any], dotted: str) -> Any:
    value: Any = table
    for key in dotted.split("."):
        if not isinstance(value, Mapping) or key not in value:
            return None
        value = value[key]
    return value


REGISTRY = RuleRegistry()


def _load_rules() -> None:
    import checks.rules  # noqa: F401  (registers the rules of checks/rules/ in REGISTRY)


def configure(rules_table: Mapping[str, Any], campaign: Mapping[str, Any] | None = None,
              registry: RuleRegistry | None = None) -> ConfiguredRules:
    """Validate the campaign's rules table against the registered rules (``ValueError``, one line)."""
    if registry is None:
        _load_rules()
        registry = REGISTRY
    return registry.configure(rules_table, campaign)


def all_rules() -> tuple[RuleSpec, ...]:
    _load_rules()
    return tuple(REGISTRY)


# ---------------------------------------------------------------------------------------------------------------
# Running and deciding
# ---------------------------------------------------------------------------------------------------------------


def _cite(rule: ConfiguredRule, text: str) -> str:
    """``text`` citing the campaign's clause instead of the rule's own: "（四.4(3)）" becomes "（二.4）", or goes
    away when the campaign's call numbers no clauses (clause = "")."""
    if rule.clause is None or rule.clause == rule.spec.clause:
        return text
    if rule.clause:
        return text.replace(rule.spec.clause, rule.clause)
    return text.replace(f"（{rule.spec.clause}）", "").replace(rule.spec.clause, "")


def _finding(rule: ConfiguredRule, check: Check) -> Finding:
    severity = rule.severity
    if check.milder is not None and Severity.codes().index(check.milder) > Severity.codes().index(severity):
        severity = check.milder
    clause = check.clause or (rule.clause if rule.clause is not None else rule.spec.clause)
    return Finding(rule=rule.id, clause=clause, severity=severity, passed=check.passed,
                   message=_cite(rule, check.message), file=check.file,
                   evidence=MappingProxyType(dict(check.evidence)), fix="" if check.passed else _cite(rule, check.fix))


def run_one(rule: ConfiguredRule, facts: SubmissionFacts) -> list[Finding]:
    checks = list(rule.spec.function(facts, rule.params))
    if not checks:
        return [Finding(rule=rule.id, clause=rule.clause if rule.clause is not None else rule.spec.clause,
                        severity=rule.severity, passed=True,
                        message=f"{rule.spec.title}：符合要求。")]
    for check in checks:
        if not isinstance(check, Check) or not check.message:
            raise TypeError(f"rule {rule.id!r} yielded {check!r} instead of a Check with a message")
    return [_finding(rule, c) for c in checks]


def run_rules(configured: ConfiguredRules, facts: SubmissionFacts) -> list[Finding]:
    """Every configured rule's findings, passed ones included (a receipt lists what was checked)."""
    findings: list[Finding] = []
    for rule in configured.rules:
        try:
            findings.extend(run_one(rule, facts))
        # Isolation boundary: a rule is a small pure function over facts, but a bug in one rule (or facts it did
        # not expect) must cost only that rule's verdict, never the submission. The error is recorded as a finding
        # and sends the submission to staff review.
        except Exception as exc:  # noqa: BLE001
            log.exception("rule %s failed on case %s", rule.id, facts.case_no or "(new)")
            findings.append(rule_error(rule, "出错", f"{type(exc).__name__}: {exc}"))
    return findings


def rule_error(rule: ConfiguredRule, how: str, error: str) -> Finding:
    """The finding of a rule that could not finish (``how``: "出错", "超时（限时 10 秒）", …): staff review."""
    return Finding(
        rule=RULE_ERROR, clause=rule.clause if rule.clause is not None else rule.spec.clause, severity=Severity.REJECT,
        passed=False, message=f"检查项“{rule.spec.title}”（{rule.id}）运行{how}，未能完成检查，需工作人员人工核对。",
        evidence=MappingProxyType({"rule": rule.id, "error": error[:500]}),
        fix="工作人员人工核对该项；开发人员可在日志中查看错误详情。")


def decide_status(findings: Iterable[Finding], subject_needs_review: bool) -> str:
    """The verdict: needs_review when a rule could not run or the subject is uncertain (a person decides before
    anything is sent back); else rejected on any failed reject finding; else accepted (with warnings on a failed
    warn finding). Info findings never change the verdict."""
    failed = [f for f in findings if not f.passed]
    if subject_needs_review or any(f.rule == RULE_ERROR for f in failed):
        return SubmissionStatus.NEEDS_REVIEW
    if any(f.severity == Severity.REJECT for f in failed):
        return SubmissionStatus.REJECTED
    if any(f.severity == Severity.WARN for f in failed):
        return SubmissionStatus.ACCEPTED_WITH_WARNINGS
    return SubmissionStatus.ACCEPTED


__all__ = [
    "Check", "ConfiguredRule", "ConfiguredRules", "Finding", "ParamSpec", "REGISTRY", "RULE_ERROR", "RuleRegistry",
    "RuleSpec", "all_rules", "configure", "decide_status", "rule_error", "run_rules",
]
