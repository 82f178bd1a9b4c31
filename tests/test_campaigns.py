"""Campaign profiles (campaigns/*.toml): each loads through the real config loader, configures every rule and the
subject spec, the default profile is the example config's campaign, and each profile's example subject parses."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from checks.registry import configure
from checks.subject import SubjectSpec, parse_subject
from ingest.config import load_config
from ingest.runtime import build_campaign

REPO = Path(__file__).resolve().parent.parent
PROFILES = sorted(p.stem for p in (REPO / "campaigns").glob("*.toml"))
EXAMPLE_SUBJECTS = {
    "jcjy2025": "浙江省/杭州市文三街小学“AI+劳动”课程群建设+人工智能教育",
    "xinhua2024": "2024新华网教育优秀案例征集+北京市海淀区教师进修学校+区域教研数字化转型+数字教育",
    "zhuzhou2021": "株洲市芦淞区/建设小学“作业超市”分层作业管理实践+双减",
    "moe2024-achievements": "北京市教育委员会+基础教育国家级优秀教学成果推广应用+推广应用成果（附件1—3）",
}


def _campaign(name: str) -> dict:  # type: ignore[type-arg]
    with (REPO / "campaigns" / f"{name}.toml").open("rb") as fh:
        return tomllib.load(fh)["campaign"]


def test_every_seed_call_has_a_profile() -> None:
    assert PROFILES == sorted(EXAMPLE_SUBJECTS)


def test_default_profile_is_the_example_configs_campaign() -> None:
    with (REPO / "config.example.toml").open("rb") as fh:
        example = tomllib.load(fh)["campaign"]
    assert _campaign("jcjy2025") == example


@pytest.mark.parametrize("name", PROFILES)
def test_profile_loads_through_campaign_file(name: str, tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'campaign_file = "campaigns/{name}.toml"\n[intake]\nspool_dir = "spool"\n', encoding="utf-8")
    config = load_config(cfg, env={}, offline=True)
    assert config.campaign.id == name
    campaign = build_campaign(config)
    rules = _campaign(name).get("rules", {})
    enabled = {rid for rid, table in rules.items() if table.get("enabled", True)}
    assert set(campaign.rules.ids) == enabled


@pytest.mark.parametrize("name", PROFILES)
def test_profile_clauses_are_the_calls_own(name: str) -> None:
    """Other calls cite their own clause numbers: every rule of theirs names one."""
    campaign = _campaign(name)
    configured = configure(campaign.get("rules", {}), campaign=campaign)
    if name != "jcjy2025":
        assert all(rule.clause for rule in configured.rules), [r.id for r in configured.rules if not r.clause]


@pytest.mark.parametrize("name", PROFILES)
def test_profile_example_subject_parses_without_review(name: str) -> None:
    spec = SubjectSpec.from_campaign(_campaign(name))
    parsed = parse_subject(EXAMPLE_SUBJECTS[name], spec)
    assert not parsed.needs_review, parsed.reasons
    assert parsed.category_no is not None and parsed.case_name


def test_xinhua_subject_without_the_marker_goes_to_review() -> None:
    spec = SubjectSpec.from_campaign(_campaign("xinhua2024"))
    parsed = parse_subject("北京市海淀区教师进修学校+区域教研数字化转型+数字教育", spec)
    assert parsed.needs_review and "2024新华网教育优秀案例征集" in "".join(parsed.reasons)
