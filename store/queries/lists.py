"""Lists of cases with their per-case figures, and the failed findings of each case, in plain SQL.

Like the statistics (``store.queries.stats``) this runs on any ``store.reader.Reader``: the ``Store`` the console
and the staff commands hold, or a read-only ``Database`` (``intake export --xlsx`` on SQLite then loads no
SQLAlchemy). The few spellings that differ between SQLite and PostgreSQL (case-insensitive matching, a number
inside the files' JSON facts, how a time is bound) are chosen by the reader's dialect, as SQLAlchemy chose them
before.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, fields
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from typing import Any, Sequence

from checks.domain import CaseIdentity, FileRole, SubmissionStatus
from store.queries.stats import effective_status_sql
from store.reader import Reader, utc_datetime
from store.records import FILE_KINDS


@dataclass(frozen=True)
class CaseFilter:
    """What `intake list` narrows by; every field is optional and they combine with AND."""

    status: str | None = None  # effective status code
    category_no: int | None = None
    category_text: str | None = None  # part of the category name (when no number is given)
    region: str | None = None  # part of the province or city name
    submitter_kind: str | None = None
    received_from: date | None = None  # local dates, inclusive
    received_to: date | None = None
    text: str | None = None  # part of the case name or the unit
    case_nos: tuple[str, ...] = ()


@dataclass(frozen=True)
class CaseRow:
    """One case as staff lists show it: identity, effective and checked status, versions, dates."""

    case_id: int
    case_no: str
    status: str  # effective
    checked_status: str  # the checks' verdict, before any override
    override_reason: str | None
    identity: CaseIdentity
    sender: str
    first_received_at: datetime
    last_received_at: datetime
    current_version: int
    subject_confidence: float
    subject_reasons: tuple[str, ...]
    photos: int
    video_seconds: float | None
    failed_findings: int

    @property
    def status_label(self) -> str:
        """The effective status in Chinese."""
        return SubmissionStatus.label_of(self.status)


# The longest video of a version, from its files' facts ({"video": {"duration_s": …}}).
_VIDEO_SECONDS = {"sqlite": """CAST(JSON_EXTRACT(a.facts, '$."video"."duration_s"') AS FLOAT)""",
                  "postgresql": "CAST(a.facts #>> '{video,duration_s}' AS FLOAT)"}
# Photos, longest video and failed findings of the current version, as correlated subqueries over the
# submission_id indexes (0002). Unlike joins to whole-table aggregates, these keep one cheap plan even when
# PostgreSQL has no statistics yet (right after a bulk import an unanalysed database chose a nested loop over
# aggregates: minutes instead of milliseconds). Column order is what _case_row reads; the identity's columns are
# CaseIdentity's fields.
_CASE_ROWS = """
    SELECT c.id, c.case_no, {status}, c.status, c.override_reason, {identity}, c.sender,
           c.first_received_at, c.last_received_at, c.current_version, c.subject_confidence, c.subject_reasons,
           coalesce((SELECT count(*) FROM attachments a WHERE a.submission_id = s.id AND a.role = :photo
                     AND a.kind IN (:file_kind_0, :file_kind_1)), 0),
           (SELECT max({video}) FROM attachments a WHERE a.submission_id = s.id AND a.role = :video),
           coalesce((SELECT count(*) FROM findings f WHERE f.submission_id = s.id AND f.passed = :failed), 0)
    FROM cases c LEFT OUTER JOIN submissions s ON s.case_id = c.id AND s.version = c.current_version
    WHERE c.campaign_id = :campaign"""
_IDENTITY = ", ".join(f"c.{f.name}" for f in fields(CaseIdentity))
assert len(FILE_KINDS) == 2, "_CASE_ROWS names each file kind"


def _contains(dialect: str, column: str, param: str) -> str:
    """Case-insensitive "contains" with the needle's %, _ and / escaped (``_needle``)."""
    if dialect == "postgresql":
        return f"{column} ILIKE '%' || :{param} || '%' ESCAPE '/'"
    return f"lower({column}) LIKE '%' || lower(:{param}) || '%' ESCAPE '/'"


def _needle(text: str) -> str:
    return text.strip().replace("/", "//").replace("%", "/%").replace("_", "/_")


def _bound_time(dialect: str, moment: datetime) -> datetime | str:
    """A time as a parameter compared with a stored one: SQLite stores UTC as text ('2025-11-03 08:12:33.000000',
    how SQLAlchemy writes it), PostgreSQL takes the aware datetime."""
    utc = moment.astimezone(timezone.utc)
    return utc if dialect != "sqlite" else utc.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def _case_rows_sql(dialect: str, campaign_id: str, filt: CaseFilter, tz: tzinfo,
                   case_ids: Sequence[int] = ()) -> tuple[str, dict[str, Any]]:
    """The list's SELECT with the filter's conditions, and its parameters."""
    sql = _CASE_ROWS.format(status=effective_status_sql("c"), identity=_IDENTITY, video=_VIDEO_SECONDS[dialect])
    params: dict[str, Any] = {"campaign": campaign_id, "photo": FileRole.PHOTO.value, "video": FileRole.VIDEO.value,
                              "failed": False, "file_kind_0": FILE_KINDS[0], "file_kind_1": FILE_KINDS[1]}
    where: list[str] = []
    if filt.status:
        where.append(f"{effective_status_sql('c')} = :status")
        params["status"] = filt.status
    if filt.category_no is not None:
        where.append("c.category_no = :category_no")
        params["category_no"] = filt.category_no
    if filt.category_text:
        where.append(_contains(dialect, "c.category", "category_text"))
        params["category_text"] = _needle(filt.category_text)
    if filt.region:
        where.append(f"({_contains(dialect, 'c.province', 'region')} OR {_contains(dialect, 'c.city', 'region')})")
        params["region"] = _needle(filt.region)
    if filt.submitter_kind:
        where.append("c.submitter_kind = :submitter_kind")
        params["submitter_kind"] = filt.submitter_kind
    if filt.received_from:
        where.append("c.first_received_at >= :received_from")
        params["received_from"] = _bound_time(dialect, datetime.combine(filt.received_from, time(), tzinfo=tz))
    if filt.received_to:
        where.append("c.first_received_at < :received_to")
        params["received_to"] = _bound_time(dialect, datetime.combine(filt.received_to + timedelta(days=1), time(),
                                                                      tzinfo=tz))
    if filt.text:
        where.append(f"({_contains(dialect, 'c.case_name', 'words')} OR {_contains(dialect, 'c.organization', 'words')})")
        params["words"] = _needle(filt.text)
    for name, column, values in (("case_no", "c.case_no", filt.case_nos), ("case_id", "c.id", case_ids)):
        if values:
            where.append(f"{column} IN ({', '.join(f':{name}_{i}' for i in range(len(values)))})")
            params.update({f"{name}_{i}": v for i, v in enumerate(values)})
    return sql + "".join(f" AND {w}" for w in where), params


def _case_row(r: Sequence[Any]) -> CaseRow:
    reasons = json.loads(r[17]) if isinstance(r[17], str) else r[17]  # SQLite: JSON text; PostgreSQL: decoded
    return CaseRow(case_id=r[0], case_no=r[1] or "", status=r[2], checked_status=r[3], override_reason=r[4],
                   identity=CaseIdentity(*r[5:12]), sender=r[12], first_received_at=utc_datetime(r[13]),
                   last_received_at=utc_datetime(r[14]), current_version=r[15], subject_confidence=r[16],
                   subject_reasons=tuple(reasons or ()), photos=int(r[18]),
                   video_seconds=float(r[19]) if r[19] is not None else None, failed_findings=int(r[20]))


def list_cases(db: Reader, campaign_id: str, filt: CaseFilter = CaseFilter(), *, tz: tzinfo = timezone.utc,
               limit: int | None = None, offset: int = 0) -> list[CaseRow]:
    """Cases matching the filter, earliest received first."""
    sql, params = _case_rows_sql(db.dialect, campaign_id, filt, tz)
    sql += " ORDER BY c.first_received_at, c.id"
    if limit or offset:
        sql += f" LIMIT {int(limit) if limit else -1 if db.dialect == 'sqlite' else 'ALL'} OFFSET {int(offset)}"
    with db.reading() as query:
        return [_case_row(r) for r in query(sql, params)]


def rows_for_ids(db: Reader, campaign_id: str, case_ids: Sequence[int]) -> list[CaseRow]:
    """The list rows of these cases (the head of the case page), by id."""
    sql, params = _case_rows_sql(db.dialect, campaign_id, CaseFilter(), timezone.utc, case_ids)
    with db.reading() as query:
        return [_case_row(r) for r in query(sql + " ORDER BY c.id", params)]


def count_cases(db: Reader, campaign_id: str, filt: CaseFilter = CaseFilter(), *,
                tz: tzinfo = timezone.utc) -> int:
    """How many cases match the filter (the list's total, without loading the rows)."""
    sql, params = _case_rows_sql(db.dialect, campaign_id, filt, tz)
    with db.reading() as query:
        return int(query(f"SELECT count(*) FROM ({sql}) AS matching", params)[0][0] or 0)


_FAILED_FINDINGS = """
    SELECT c.id, f.severity, f.clause, f.message
    FROM cases c
    JOIN submissions s ON s.case_id = c.id AND s.version = c.current_version
    JOIN findings f ON f.submission_id = s.id
    WHERE c.campaign_id = :campaign AND f.passed = :failed"""


def failed_findings_by_case(db: Reader, campaign_id: str,
                            case_ids: Sequence[int] | None = None) -> dict[int, list[tuple[str, str, str]]]:
    """Case id → (severity, clause, message) of the failed findings of its current version."""
    sql, params = _FAILED_FINDINGS, {"campaign": campaign_id, "failed": False}
    if case_ids is not None:
        if not case_ids:
            return {}
        sql += f" AND c.id IN ({', '.join(f':case_id_{i}' for i in range(len(case_ids)))})"
        params.update({f"case_id_{i}": v for i, v in enumerate(case_ids)})
    out: dict[int, list[tuple[str, str, str]]] = defaultdict(list)
    with db.reading() as query:
        for case_id, severity, clause, message in query(sql + " ORDER BY c.id, f.id", params):
            out[case_id].append((severity, clause, message))
    return dict(out)
