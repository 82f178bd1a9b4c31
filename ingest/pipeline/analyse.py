"""From a parsed mail to a verdict, as one story: unpack, classify, read facts, identify, check, decide.

The stages are in ingest/pipeline/stages.py and hand frozen values to each other (ingest/pipeline/values.py);
this module only calls them in order and notes their times. Used by the daemon's pipeline
(ingest/pipeline/process.py) and by ``intake inspect`` (offline, no mailbox, no database), so a staff
member's offline check gives exactly the answer the daemon would.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Mapping

from ingest.pipeline.batch import analyse_cases, batch_reason, plan_batch
from ingest.pipeline.stages import (as_sent, check, classify_files, decide, find_links, identify, parse, read_facts,
                                    read_forms, submission_facts, unpack, with_supplied)
from ingest.pipeline.timing import StageTimes
from ingest.pipeline.values import AnalysisSettings, Analysis, MailContext, ParsedMessage


def analyse(message: ParsedMessage, *, work_dir: Path, settings: AnalysisSettings, context: MailContext,
            times: StageTimes | None = None) -> Analysis:
    """The verdict on one parsed mail; its files are written under ``work_dir`` (``times``: where the time went)."""
    times = times if times is not None else StageTimes()
    limits, spec, mail = settings.limits, settings.subject_spec, message.mail
    # The whole mail's budgets (issue 15 §5): reading time and unpacked bytes, on top of the per-file bounds.
    deadline = time.monotonic() + limits.mail_seconds
    with times.stage("unpack"):
        unpacked = with_supplied(unpack(mail.attachments, work_dir, limits, deadline), context.supplied)
    classified = classify_files(unpacked.files, limits, deadline, context.supplied)
    links, link_defects = find_links(mail, settings.link_hosts)
    files = (*classified.files, *links)
    with times.stage("subject"):
        forms = read_forms(files, limits)
        identified = identify(as_sent(message.subject, context.known, context.corrections), files,
                              _first_filled(forms), mail.from_name or "", spec)
    read = read_facts(files, limits, deadline)
    times.add_all((*classified.timings, *read.timings))
    problems = (*unpacked.findings, *classified.findings)
    overruns = (*unpacked.overruns, *classified.overruns, *read.overruns)
    defects = (*mail.defects, *link_defects)
    # Several complete cases in one mail (a province's recommended cases, one folder each) are never one case.
    plan = plan_batch([f"{f.archive}/{f.name}" if f.archive else f.name for f in files], [f.role for f in files])
    if plan is not None and len(plan.cases) >= 2:
        return analyse_cases(plan, message, read.files, identified.as_sent, forms, settings=settings,
                             context=context, defects=(*defects, *(p.message for p in problems)),
                             overruns=overruns, problems=problems, times=times)
    checked = check(submission_facts(message, identified, read.files, context, problems, unpacked.repeated),
                    settings.rules, limits)
    times.add_all(checked.timings)
    defects = (*defects, *context.forced_review, *(p.message for p in problems))
    kept = (*(f.path for f in unpacked.files), *(f.path for f in read.files if f.path))
    return decide(identified, checked, spec=spec, files=read.files, context=context,
                  defects=tuple(dict.fromkeys(defects)), overruns=overruns, held=batch_reason(plan), kept_paths=kept)


def _first_filled(forms: Mapping[int, dict[str, str]]) -> dict[str, str]:
    """The fields of the first 申报表 that has any (a mail of one case has one form; a copy may be unreadable)."""
    return next((fields for _, fields in sorted(forms.items()) if fields), {})


def analyse_file(spool_path: Path, *, work_dir: Path, settings: AnalysisSettings,
                 context: MailContext) -> Analysis:
    """The verdict on a mail saved as a file (spooled, or ``intake inspect``'s): parse, then analyse. Paths and
    frozen values in, a frozen value out: a worker on another host can run it."""
    return analyse(parse(spool_path, work_dir / "parts", settings.subject_spec), work_dir=work_dir,
                   settings=settings, context=context)
