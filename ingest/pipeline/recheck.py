"""Staff actions on a filed message: check it again (after a rule or config change, or with a file added), or
queue the reply staff chose. The analysis is made again from the spooled bytes, as the daemon would make it now.
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO, Sequence

from checks.domain import ReplyKind
from checks.facts import LinkFacts
from ingest.files.linkfetch import SuppliedFile, add_local_file
from ingest.mail.mime import ParsedMail
from ingest.pipeline.analyse import analyse
from ingest.pipeline.continuation import continued_case, held_for_staff, prepare
from ingest.pipeline.prior import prior_from_summaries
from ingest.pipeline.process import received_time
from ingest.pipeline.replies import KIND_BY_STATUS, queue_reply, version_record
from ingest.pipeline.stages import parse
from ingest.pipeline.values import Analysis, MailContext, ParsedMessage
from ingest.runtime import Runtime
from store import SpooledMessage


def _reanalyse(rt: Runtime, message_row_id: int,
               added: Sequence[SuppliedFile] = ()) -> tuple[SpooledMessage, ParsedMail, Analysis, str]:
    """The analysis of a filed message as it would be made now (current rules, staff corrections, the files
    added to it since, and ``added``)."""
    store = rt.store
    msg = store.message(message_row_id)
    work_dir = rt.spool.fresh_work_dir(msg.id)
    parsed = parse(Path(msg.spool_path), work_dir / "parts", rt.campaign.subject_spec)
    campaign = rt.config.campaign
    summaries = store.case_summaries(campaign.id)
    case_no_by_msg = dict((mid, no) for no, mid in store.current_versions(campaign.id))
    this_case = case_no_by_msg.get(message_row_id, "")
    prior = prior_from_summaries([s for s in summaries if s.case_no != this_case], exclude_case_id=None)
    case_id = store.case_id_by_no(this_case) if this_case else None
    # The version being rechecked is the case's newest: earlier parts are merged, fields are its own.
    mail, _case, _known = prepare(rt, msg, parsed, case_id, work_dir)
    corrections = store.corrected_fields(case_id) if case_id is not None else {}
    supplied = [SuppliedFile(name=a.name, path=Path(a.stored_path), size=a.size, sha256=a.sha256 or "", url=a.url)
                for a in store.supplied_files(message_row_id) if a.stored_path and Path(a.stored_path).is_file()]
    context = MailContext(received_at=received_time(msg, mail), prior=prior, case_no=this_case,
                          corrections=corrections, supplied=(*supplied, *added))
    analysis = analyse(ParsedMessage(mail, parsed.subject), work_dir=work_dir, settings=rt.analysis_settings,
                       context=context)
    _continued, refused = continued_case(rt, mail)
    if refused is not None and refused.case_no == this_case:
        refused = None
    return msg, mail, held_for_staff(analysis, mail, refused), this_case


def recheck_message(rt: Runtime, message_row_id: int, *, actor: str = "daemon",
                    added: Sequence[SuppliedFile] = ()) -> str:
    """Re-run the whole analysis of a filed message from its spooled bytes (after a rule or config
    change, or a staff request) and replace that version's findings and verdict. No mail is sent.
    ``added``: files staff add to this version now (kept with it for later rechecks)."""
    msg, mail, analysis, _case_no = _reanalyse(rt, message_row_id, added)
    campaign = rt.config.campaign
    for index, case in enumerate(analysis.cases):  # a mail carrying several cases: each case's version
        rt.store.refile_version(version_record(msg, mail, case, campaign.id, None, index))
    if analysis.cases:
        return analysis.status
    filed = rt.store.refile_version(version_record(msg, mail, analysis, campaign.id, None))
    rt.spool.prune_work_dir(msg.id, analysis.kept_paths)
    rt.store.log_event("case.recheck_requested", actor=actor, case_id=filed.case_id, message_row_id=msg.id,
                       detail={"status": analysis.status})
    return analysis.status


def send_chosen_reply(rt: Runtime, message_row_id: int, kind: str, *, actor: str) -> str:
    """Queue a reply of the kind staff chose (e.g. a receipt after overriding a rejection), rendered from
    the current analysis of the case's newest version. Returns a line for staff."""
    if kind not in KIND_BY_STATUS.values():
        raise ValueError(f"回复类型只能是 {'、'.join(sorted(set(KIND_BY_STATUS.values())))} 之一")
    msg, mail, analysis, case_no = _reanalyse(rt, message_row_id)
    if analysis.cases:
        raise ValueError("这封邮件含多个案例，已合并回复；请在各案例页面分别处理")
    filed = rt.store.filed_version_of(message_row_id)
    message_id = queue_reply(rt, msg, mail, analysis, filed, kind=kind, staff=actor)
    rt.store.log_event("mail.chosen_reply", actor=actor, case_id=filed.case_id, message_row_id=msg.id,
                       detail={"kind": kind, "message_id": message_id})
    return f"已排队发送：{case_no} 的{ReplyKind.label_of(kind)}（{message_id}）"


def attach_file(rt: Runtime, message_row_id: int, source: BinaryIO, name: str, *,
                actor: str) -> tuple[str, str | None]:
    """Staff add a file to a filed version (typically the video behind a 163 超大附件 link they downloaded): it is
    copied into the spool and the version is checked again with it, like any attachment. Returns the new status
    and the link the file was taken to stand for (by name, else the only video link still waiting, else none)."""
    name = Path(name.replace("\\", "/")).name or "附件"  # a display name only: the stored path is our own
    links = rt.store.version_links(message_row_id)
    done = {a.url for a in rt.store.supplied_files(message_row_id) if a.url}
    waiting = [a for a in links if a.url not in done]
    link = next((a for a in waiting if a.name == name), None)
    if link is None:
        videos = [a for a in waiting if LinkFacts(name=a.name, url=a.url or "").is_video]
        link = videos[0] if len(videos) == 1 else waiting[0] if len(waiting) == 1 else None
    url = link.url if link is not None else None
    added = add_local_file(rt.spool, message_row_id, source, name, url)
    status = recheck_message(rt, message_row_id, actor=actor, added=[added])
    filed = rt.store.filed_version_of(message_row_id)
    rt.store.log_event("case.file_attached", actor=actor, case_id=filed.case_id, message_row_id=message_row_id,
                       detail={"name": name, "size": added.size, "sha256": added.sha256,
                               "link": link.name if link is not None else "", "url": url or "", "status": status})
    return status, link.name if link is not None else None
