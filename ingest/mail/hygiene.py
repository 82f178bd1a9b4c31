"""Mail hygiene: which incoming mails must never get an automatic reply (pure functions).

RFC 3834 asks responders not to answer auto-submitted mail, bounces or list traffic; answering
them causes mail loops and backscatter to forged senders. A mail the receiving server marked as
failing SPF/DKIM/DMARC is still recorded and checked, but the reply is held for staff.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ingest.mail.mime import ParsedMail
from store import domain_key

AUTO_REPLY_SUBJECT = re.compile(
    r"^\s*(自动回复|自动答复|自動回覆|auto(matic)?[ -]?reply|out of (the )?office|外出|休假|不在办公室|autosvar|"
    r"abwesenheitsnotiz|réponse automatique)",
    re.IGNORECASE,
)
BOUNCE_SENDERS = re.compile(r"^(mailer-daemon|postmaster|mail-daemon|bounce[s]?|noreply-dsn)@", re.IGNORECASE)
BOUNCE_SUBJECT = re.compile(
    r"(undeliver|delivery (status notification|failure|has failed)|mail delivery failed|returned mail|"
    r"退信|系统退信|投递失败|无法投递|未能送达|退回的邮件)",
    re.IGNORECASE,
)
AUTH_FAIL = re.compile(r"\b(spf|dkim|dmarc)=(fail|softfail|permerror)\b", re.IGNORECASE)
# The domain DMARC judged (RFC 8601 "header.from="): the address we answer must be of that domain.
AUTH_HEADER_FROM = re.compile(r"\bheader\.from=([A-Za-z0-9.-]+)", re.IGNORECASE)


@dataclass(frozen=True)
class Hygiene:
    """``kind`` is None for an ordinary mail; ``reply`` says whether an automatic reply may be sent."""

    kind: str | None
    reply: bool
    reason: str = ""

    @property
    def skip_processing(self) -> bool:
        """Whether the mail is not a submission at all (auto-reply, bounce, list mail, our own): filed, never
        answered."""
        return self.kind in {"auto_reply", "bounce", "list", "own"}


def answer_address(mail: ParsedMail) -> str | None:
    """Where a reply to this mail goes: the sender (``From``, the address SPF/DKIM/DMARC vouch for). A
    ``Reply-To`` is followed only inside the From's own domain (a school's office writing for its head);
    one elsewhere would let anyone aim our receipts at a third party, and sends the mail to review."""
    if mail.reply_to and mail.from_addr and domain_key(mail.reply_to) == domain_key(mail.from_addr):
        return mail.reply_to
    return mail.from_addr


def foreign_reply_to(mail: ParsedMail) -> str | None:
    """The Reply-To address that is not followed (another domain than From's), if any."""
    if mail.reply_to and mail.from_addr and domain_key(mail.reply_to) != domain_key(mail.from_addr):
        return mail.reply_to
    return None


def assess(mail: ParsedMail, own_addresses: frozenset[str]) -> Hygiene:
    """What kind of mail this is for our replies (submission, auto-reply, bounce, list, our own) and why."""
    h = {k.lower(): v for k, v in mail.headers.items()}
    sender = (mail.from_addr or "").lower()
    answer = (answer_address(mail) or "").lower()  # every check below holds for the address we would answer
    if sender and sender in own_addresses:
        return Hygiene("own", False, "发件人是本征集邮箱自身")
    if answer and answer in own_addresses:  # a Reply-To of our own address: we would mail ourselves
        return Hygiene("own_reply_to", False, "回复地址（Reply-To）是本征集邮箱自身")
    automated = _automated(mail, h, sender)
    if automated is not None:
        return automated
    unanswerable = _unanswerable(h, sender, answer)
    return unanswerable if unanswerable is not None else Hygiene(None, True)


def _automated(mail: ParsedMail, h: dict[str, str], sender: str) -> Hygiene | None:
    """A bounce, an auto-reply or a list mail, by its headers, sender and subject."""
    return_path = h.get("return-path", "").strip()
    ctype = mail.content_type.lower()
    if ctype == "multipart/report" or "x-failed-recipients" in h or BOUNCE_SENDERS.match(sender) \
            or return_path in {"<>", ""} and BOUNCE_SUBJECT.search(mail.subject):
        return Hygiene("bounce", False, "退信（投递失败通知）")
    auto = h.get("auto-submitted", "").strip().lower()
    if (auto and auto != "no") or "x-autoreply" in h or "x-autorespond" in h \
            or h.get("x-auto-response-suppress", "").lower() in {"all", "oof", "autoreply"} \
            and AUTO_REPLY_SUBJECT.search(mail.subject) or AUTO_REPLY_SUBJECT.search(mail.subject):
        return Hygiene("auto_reply", False, "自动回复 / 外出通知")
    precedence = h.get("precedence", "").strip().lower()
    if "list-id" in h or "list-unsubscribe" in h and precedence in {"bulk", "list", "junk"} \
            or precedence in {"bulk", "list", "junk"}:
        return Hygiene("list", False, "邮件列表或群发邮件")
    return None


def _unanswerable(h: dict[str, str], sender: str, answer: str) -> Hygiene | None:
    """No sender, a robot's Reply-To, or an address the receiving server's authentication does not vouch for."""
    if not sender:
        return Hygiene("no_sender", False, "邮件没有可回复的发件人地址")
    if BOUNCE_SENDERS.match(answer):
        return Hygiene("robot_reply_to", False, "回复地址（Reply-To）是退信或系统地址")
    results = h.get("authentication-results", "")
    if AUTH_FAIL.search(results):
        return Hygiene("auth_fail", False, "收件服务器记录发件人认证（SPF/DKIM/DMARC）失败，回复待工作人员确认")
    vouched = {d.lower().strip(".") for d in AUTH_HEADER_FROM.findall(results)}
    if vouched and domain_key(answer) not in vouched:
        return Hygiene("auth_other_domain", False, "收件服务器的认证结果针对的不是回复地址的域名，回复待工作人员确认")
    return None
