"""The rule engine itself: validation at registration and at configuration, crash isolation, the verdict."""

from __future__ import annotations

import datetime as dt
from typing import Any, Iterator

import pytest

from checks.facts import SubmissionFacts
from checks.registry import RULE_ERROR, Check, Finding, Params, RuleRegistry, configure, decide_status, run_rules
from test_rules_support import example_campaign, submission


def registry_with_one_rule() -> RuleRegistry:
    reg = RuleRegistry()

    @reg.rule(id="demo-limit", clause="四.4(9)", severity="reject", title="演示",
              params={"limit": (int, 3), "names": (list[str], ["a"]), "day": (dt.date | None, None)})
    def demo(facts: SubmissionFacts, params: Params) -> Iterator[Check]:
        yield Check(len(facts.files) <= params["limit"], f"共{len(facts.files)}个文件")

    return reg


def test_duplicate_id_fails_at_registration() -> None:
    reg = registry_with_one_rule()
    with pytest.raises(ValueError, match="registered twice"):
        reg.rule(id="demo-limit", clause="四.1", severity="warn", title="重复")


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"clause": ""}, "must name the clause"),
    ({"severity": "fatal"}, "severity must be one of"),
    ({"params": {"n": (int, "3")}}, "default of 'n' is not int"),
    ({"params": {"n": (set, None)}}, "unsupported type"),
    ({"params": {"enabled": (bool, True)}}, "bad parameter name"),
    ({"id": "Bad_ID"}, "lower-case words"),
    ({"id": RULE_ERROR}, "lower-case words"),
    ({"from_campaign": {"nope": "deadline"}}, "unknown parameter 'nope'"),
])
def test_bad_declarations_fail_at_registration(kwargs: dict[str, Any], message: str) -> None:
    args = {"id": "x-rule", "clause": "四.1", "severity": "warn", "title": "标题", **kwargs}
    with pytest.raises(ValueError, match=message):
        RuleRegistry().rule(**args)


def test_function_must_take_facts_and_params() -> None:
    def one_argument(facts: SubmissionFacts) -> list[Check]:
        return []

    with pytest.raises(ValueError, match=r"\(facts, params\)"):
        RuleRegistry().rule(id="x", clause="四.1", severity="warn", title="标题")(one_argument)  # type: ignore[arg-type]


def test_configure_converts_and_validates() -> None:
    reg = registry_with_one_rule()
    rules = configure({"demo-limit": {"limit": 5, "day": "2025-12-10", "severity": "warn"}}, registry=reg)
    (rule,) = rules.rules
    assert rule.params == {"limit": 5, "names": ("a",), "day": dt.date(2025, 12, 10)} and rule.severity == "warn"
    assert configure({"demo-limit": {"enabled": False}}, registry=reg).rules == ()
    assert configure({}, registry=reg).rules == ()


@pytest.mark.parametrize(("table", "message"), [
    ({"no-such-rule": {}}, "未知的规则 'no-such-rule'"),
    ({"demo-limit": {"limt": 4}}, "未知的参数 'limt'"),
    ({"demo-limit": {"limit": "4"}}, "'limit'：应为整数，实际是 '4'"),
    ({"demo-limit": {"limit": True}}, "'limit'：应为整数"),
    ({"demo-limit": {"names": "a"}}, "应为由字符串组成的列表"),
    ({"demo-limit": {"day": "10/12/2025"}}, "应为日期"),
    ({"demo-limit": {"severity": "fatal"}}, "severity 只能是"),
    ({"demo-limit": {"enabled": "yes"}}, "enabled 应为 true 或 false"),
    ({"demo-limit": 3}, "应为参数表"),
])
def test_configuration_errors_are_one_line(table: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        configure(table, registry=registry_with_one_rule())
    assert "\n" not in str(info.value)


def test_real_rules_reject_bad_values_at_configuration() -> None:
    with pytest.raises(ValueError, match="未知的时区 'Mars/Olympus'"):
        configure({"submission-window": {"timezone": "Mars/Olympus"}}, campaign=example_campaign())
    with pytest.raises(ValueError, match="aspect 应形如 16:9"):
        configure({"video-aspect": {"aspect": "wide"}})
    with pytest.raises(ValueError, match=r"groups\[0\]：未知的配置项 'per_county'"):
        configure({"quota": {"groups": [{"per_county": 3}]}})
    with pytest.raises(ValueError, match="min_words 大于 max_words"):
        configure({"text-length": {"min_words": 5000, "max_words": 3000}})


def test_campaign_keys_fill_rule_parameters() -> None:
    rules = configure({"submission-window": {}}, campaign={"deadline": "2024-09-30", "timezone": "Asia/Urumqi"})
    params = rules.rules[0].params
    assert params["deadline"] == dt.date(2024, 9, 30) and params["timezone"] == "Asia/Urumqi"
    with pytest.raises(ValueError, match=r"campaign.deadline（规则 'submission-window' 使用）：应为日期"):
        configure({"submission-window": {}}, campaign={"deadline": "soon"})


def test_a_crashing_rule_becomes_a_rule_error_and_needs_review() -> None:
    reg = registry_with_one_rule()

    @reg.rule(id="buggy", clause="四.4(4)", severity="warn", title="有缺陷的规则")
    def buggy(facts: SubmissionFacts, params: Params) -> Iterator[Check]:
        raise ZeroDivisionError("division by zero")
        yield  # pragma: no cover

    findings = run_rules(configure({"buggy": {}, "demo-limit": {}}, registry=reg), submission())
    error = next(f for f in findings if f.rule == RULE_ERROR)
    assert not error.passed and error.severity == "reject" and error.clause == "四.4(4)"
    assert "有缺陷的规则" in error.message and "ZeroDivisionError" in error.evidence["error"]
    assert any(f.rule == "demo-limit" and f.passed for f in findings)  # the other rules still ran
    assert decide_status(findings, subject_needs_review=False) == "needs_review"


def test_a_rule_yielding_nothing_is_listed_as_passed() -> None:
    reg = RuleRegistry()

    @reg.rule(id="quiet", clause="四.2", severity="warn", title="安静")
    def quiet(facts: SubmissionFacts, params: Params) -> Iterator[Check]:
        return iter(())

    (f,) = run_rules(configure({"quiet": {}}, registry=reg), submission())
    assert f.passed and f.message == "安静：符合要求。"


def finding(severity: str, passed: bool, rule: str = "r") -> Finding:
    return Finding(rule=rule, clause="四.1", severity=severity, passed=passed, message="m")


@pytest.mark.parametrize(("findings", "subject_review", "status"), [
    ([finding("reject", True), finding("warn", True)], False, "accepted"),
    ([finding("info", False)], False, "accepted"),
    ([finding("warn", False)], False, "accepted_with_warnings"),
    ([finding("warn", False), finding("reject", False)], False, "rejected"),
    ([finding("reject", False)], True, "needs_review"),
    ([finding("reject", False, RULE_ERROR)], False, "needs_review"),
    ([], True, "needs_review"),
])
def test_decide_status(findings: list[Finding], subject_review: bool, status: str) -> None:
    assert decide_status(findings, subject_review) == status
