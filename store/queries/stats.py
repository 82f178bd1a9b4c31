"""Statistics of one campaign: counts by category, province, status, kind and day; failure reasons."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timezone, tzinfo
from typing import Any, Sequence

from checks.domain import SubmissionStatus, SubmitterKind
from store.queries.names import UNKNOWN_CATEGORY, UNKNOWN_KIND, UNKNOWN_PROVINCE
from store.reader import Query, Reader

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


# The statistics are plain SQL over the tables the models declare (``cases``, ``submissions``, ``findings``), one
# text for both databases, run through a ``Reader``: a read-only command's ``Database`` (sqlite3 on SQLite, so
# `intake stats` loads no SQLAlchemy) or the ``Store`` the console and the daemon hold. ":campaign" is bound.
IN_CAMPAIGN = "FROM cases WHERE campaign_id = :campaign"


def effective_status_sql(table: str | None = None) -> str:
    """A case's effective status in SQL: a staff override wins over the checks' verdict (``effective_status_column``
    gives it to the ORM's queries); ``table``: the alias of ``cases`` in the statement."""
    prefix = f"{table}." if table else ""
    return f"coalesce({prefix}override_status, {prefix}status)"


# The UTC hour of a stored time as 'YYYY-MM-DD HH'. Days are then taken in the campaign's time zone in Python:
# grouping by hour keeps the work in SQL (at most 24 groups a day) while staying exact for every zone whose
# offset is a whole number of hours.
HOUR_BUCKET = {"sqlite": "strftime('%Y-%m-%d %H', {})", "postgresql": "to_char(timezone('UTC', {}), 'YYYY-MM-DD HH24')"}
# Rules failed in cases' current versions: how many cases, one of the messages.
FAILURE_REASONS = """
    SELECT f.rule, f.clause, f.severity, count(DISTINCT c.id) AS cases, min(f.message)
    FROM findings f
    JOIN submissions s ON s.id = f.submission_id
    JOIN cases c ON s.case_id = c.id AND s.version = c.current_version
    WHERE c.campaign_id = :campaign AND f.passed = :failed
    GROUP BY f.rule, f.clause, f.severity
    ORDER BY cases DESC, f.rule"""


def _by_day(query: Query, dialect: str, campaign: dict[str, Any], tz: tzinfo) -> tuple[Count, ...]:
    bucket = HOUR_BUCKET[dialect].format("first_received_at")
    per_day: dict[date, int] = defaultdict(int)
    for hour, n in query(f"SELECT {bucket} AS bucket, count(*) {IN_CAMPAIGN} GROUP BY bucket", campaign):
        utc_hour = datetime.fromisoformat(hour).replace(tzinfo=timezone.utc)  # "YYYY-MM-DD HH"
        per_day[utc_hour.astimezone(tz).date()] += n
    return tuple(Count(d.isoformat(), f"{d.month}月{d.day}日", per_day[d]) for d in sorted(per_day))


def _failure_reasons(query: Query, campaign: dict[str, Any], limit: int | None) -> tuple[FailureReason, ...]:
    rows = query(FAILURE_REASONS + (" LIMIT :limit" if limit else ""),
                 {**campaign, "failed": False, **({"limit": limit} if limit else {})})
    return tuple(FailureReason(rule, clause, severity, n, example) for rule, clause, severity, n, example in rows)


def campaign_stats(db: Reader, campaign_id: str, *, tz: tzinfo, top_reasons: int | None = 20) -> Stats:
    """Every breakdown `intake stats` shows, by GROUP BY queries (one round trip each, one snapshot). Quota
    overruns are worked out by the quota rule's own computation (``checks.rules.quota.Quota.overruns``), not
    here."""
    campaign = {"campaign": campaign_id}
    with db.reading() as query:
        total = query(f"SELECT count(*) {IN_CAMPAIGN}", campaign)[0][0] or 0
        categories = query(f"SELECT category_no, max(category), count(*) {IN_CAMPAIGN} GROUP BY category_no", campaign)
        provinces = query(f"SELECT province, count(*) {IN_CAMPAIGN} GROUP BY province", campaign)
        statuses = query(f"SELECT {effective_status_sql()} AS st, count(*) {IN_CAMPAIGN} GROUP BY st", campaign)
        kinds = query(f"SELECT submitter_kind, count(*) {IN_CAMPAIGN} GROUP BY submitter_kind", campaign)
        by_day = _by_day(query, db.dialect, campaign, tz)
        reasons = _failure_reasons(query, campaign, top_reasons)
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
