"""Statistics of one campaign: counts by category, province, status, kind and day; failure reasons."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timezone, tzinfo
from typing import Any, Sequence

from sqlalchemy import ColumnElement, false, func, select
from sqlalchemy.orm import Session

from checks.domain import (SubmissionStatus,
                           SubmitterKind)
from store.models import Case, Finding, Submission
from store.repo import Store
from store.queries.common import (UNKNOWN_CATEGORY, UNKNOWN_KIND, UNKNOWN_PROVINCE, current_submission_join,
                                   effective_status_column)

# ---- statistics ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Count:
    """One row of a breakdown: a machine key (status code, category number, ISO date…), its
    Chinese label, and how many cases."""

    key: str
    label: str
    count: int


@dataclass(frozen=True)
class FailureReason:
    """A rule that failed in some cases' current versions: how many cases, and one of its messages."""

    rule: str
    clause: str
    severity: str
    cases: int
    example: str  # one of the messages, so staff see what the rule id means


@dataclass(frozen=True)
class Stats:
    """The campaign's statistics for ``intake stats`` and the console: totals by category, province, status, kind,
    day."""

    total: int
    by_category: tuple[Count, ...]
    by_province: tuple[Count, ...]
    by_status: tuple[Count, ...]
    by_submitter_kind: tuple[Count, ...]
    by_day: tuple[Count, ...]
    failure_reasons: tuple[FailureReason, ...]

    def to_json(self) -> dict[str, Any]:
        """The statistics as plain JSON values (``intake stats --format json``)."""
        def counts(rows: Sequence[Count]) -> list[dict[str, Any]]:
            return [{"key": r.key, "label": r.label, "count": r.count} for r in rows]

        return {
            "total": self.total,
            "by_category": counts(self.by_category),
            "by_province": counts(self.by_province),
            "by_status": counts(self.by_status),
            "by_submitter_kind": counts(self.by_submitter_kind),
            "by_day": counts(self.by_day),
            "failure_reasons": [{"rule": r.rule, "clause": r.clause, "severity": r.severity, "cases": r.cases,
                                 "example": r.example} for r in self.failure_reasons],
        }


def _hour_bucket(store: Store, column: Any) -> ColumnElement[str]:
    """The UTC hour of a timestamp as 'YYYY-MM-DD HH' on either database. Days are then taken in
    the campaign's time zone in Python: grouping by hour keeps the work in SQL (at most 24 groups
    a day) while staying exact for every zone whose offset is a whole number of hours."""
    if store.engine.dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD HH24")
    return func.strftime("%Y-%m-%d %H", column)


def _by_day(s: Session, store: Store, campaign_id: str, tz: tzinfo) -> tuple[Count, ...]:
    bucket = _hour_bucket(store, Case.first_received_at).label("bucket")
    rows = s.execute(select(bucket, func.count()).where(Case.campaign_id == campaign_id).group_by(bucket))
    per_day: dict[date, int] = defaultdict(int)
    for hour, n in rows:
        utc_hour = datetime.strptime(hour, "%Y-%m-%d %H").replace(tzinfo=timezone.utc)
        per_day[utc_hour.astimezone(tz).date()] += n
    return tuple(Count(d.isoformat(), f"{d.month}月{d.day}日", per_day[d]) for d in sorted(per_day))


def _failure_reasons(s: Session, campaign_id: str, limit: int | None) -> tuple[FailureReason, ...]:
    cases = func.count(func.distinct(Case.id)).label("cases")
    q = (select(Finding.rule, Finding.clause, Finding.severity, cases, func.min(Finding.message))
         .join(Submission, Submission.id == Finding.submission_id)
         .join(Case, current_submission_join())
         .where(Case.campaign_id == campaign_id, Finding.passed == false())
         .group_by(Finding.rule, Finding.clause, Finding.severity)
         .order_by(cases.desc(), Finding.rule))
    if limit:
        q = q.limit(limit)
    return tuple(FailureReason(rule, clause, severity, n, example) for rule, clause, severity, n, example in s.execute(q))


def campaign_stats(store: Store, campaign_id: str, *, tz: tzinfo, top_reasons: int | None = 20) -> Stats:
    """Every breakdown `intake stats` shows, by GROUP BY queries (one round trip each). Quota overruns are
    worked out by the quota rule's own computation (``checks.rules.quota.Quota.overruns``), not here."""
    status = effective_status_column().label("st")
    with store.session() as s:
        in_campaign = Case.campaign_id == campaign_id
        total = s.scalar(select(func.count()).select_from(Case).where(in_campaign)) or 0
        categories = s.execute(select(Case.category_no, func.max(Case.category), func.count()).where(in_campaign)
                               .group_by(Case.category_no)).all()
        provinces = s.execute(select(Case.province, func.count()).where(in_campaign).group_by(Case.province)).all()
        statuses = s.execute(select(status, func.count()).where(in_campaign).group_by(status)).all()
        kinds = s.execute(select(Case.submitter_kind, func.count()).where(in_campaign)
                          .group_by(Case.submitter_kind)).all()
        by_day = _by_day(s, store, campaign_id, tz)
        reasons = _failure_reasons(s, campaign_id, top_reasons)
    status_order = {k: i for i, k in enumerate(SubmissionStatus.codes())}
    return Stats(
        total=total,
        by_category=tuple(Count("" if no is None else str(no), name or UNKNOWN_CATEGORY, n) for no, name, n in
                          sorted(categories, key=lambda r: (r[0] is None, r[0] or 0))),
        by_province=tuple(Count(p or "", p or UNKNOWN_PROVINCE, n) for p, n in
                          sorted(provinces, key=lambda r: (-r[1], r[0] is None, r[0] or ""))),
        by_status=tuple(Count(st, SubmissionStatus.label_of(st), n) for st, n in
                        sorted(statuses, key=lambda r: (status_order.get(r[0], 99), r[0]))),
        by_submitter_kind=tuple(Count(k or "", SubmitterKind.label_of(k, UNKNOWN_KIND), n)
                                for k, n in sorted(kinds, key=lambda r: (-r[1], r[0] or ""))),
        by_day=by_day,
        failure_reasons=reasons,
    )
