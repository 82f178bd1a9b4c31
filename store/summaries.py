"""Every case of a campaign as later checks see it (``CaseSummary``: quotas, duplicates), read with plain SQL.

One reading for the daemon (``Store.case_summaries``, with the current version's file hashes) and for
``intake stats``' quota table (on a read-only ``Database``, without SQLAlchemy). The identity's columns are
``CaseIdentity``'s fields (the model's columns carry the same names: ``Case.identity_columns``).
"""

from __future__ import annotations

from dataclasses import fields

from checks.domain import CaseIdentity
from store.queries.stats import effective_status_sql
from store.reader import Reader, utc_datetime
from store.records import CaseSummary

CASES = (f"SELECT id, case_no, sender, {effective_status_sql()}, first_received_at, "
         + ", ".join(f.name for f in fields(CaseIdentity)) + " FROM cases WHERE campaign_id = :campaign ORDER BY id")
# The files of each case's current version that have a hash.
HASHES = """
    SELECT s.case_id, a.sha256
    FROM submissions s
    JOIN attachments a ON a.submission_id = s.id
    JOIN cases c ON c.id = s.case_id
    WHERE c.campaign_id = :campaign AND s.version = c.current_version AND a.sha256 IS NOT NULL"""


def case_summaries(db: Reader, campaign_id: str, *, files: bool = True) -> list[CaseSummary]:
    """The campaign's cases in the order they were filed, with their current version's file hashes; ``files=False``
    leaves the hashes out (quotas need none)."""
    campaign = {"campaign": campaign_id}
    hashes: dict[int, list[str]] = {}
    with db.reading() as query:
        rows = query(CASES, campaign)
        for case_id, sha in query(HASHES, campaign) if files else ():
            hashes.setdefault(case_id, []).append(sha)
    return [CaseSummary(case_id=case_id, case_no=case_no or "", sender=sender, identity=CaseIdentity(*who),
                        status=status, first_received_at=utc_datetime(first), file_sha256s=tuple(hashes.get(case_id, ())))
            for case_id, case_no, sender, status, first, *who in rows]
