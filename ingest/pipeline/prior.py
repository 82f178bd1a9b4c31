"""Earlier cases of the campaign as the checks see them (quotas, duplicates).

Its own small module: ``intake stats`` counts quota overruns with it and must not load the pipeline (the
file readers, the unpacker, the MIME parser) to do so.
"""

from __future__ import annotations

from typing import Sequence

from checks.facts import PriorSubmission
from store import CaseSummary


def prior_from_summaries(summaries: Sequence[CaseSummary], exclude_case_id: int | None) -> tuple[PriorSubmission, ...]:
    """The stored cases as the rules see earlier submissions, without ``exclude_case_id``."""
    return tuple(
        PriorSubmission(case_no=s.case_no, sender=s.sender, identity=s.identity, received_at=s.first_received_at,
                        file_sha256s=s.file_sha256s, status=s.status)
        for s in summaries if s.case_id != exclude_case_id
    )
