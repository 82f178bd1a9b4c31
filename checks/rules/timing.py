"""四.1 征集时间: received within the submission window (Beijing time by default).

The received time is the server's INTERNALDATE (offline: the Date header or ``--received``), never the sender's
Date header when the server's time is known: a clock set wrong on the sender's computer must not make a mail late.
``zoneinfo`` reads the system's time-zone database, which is reading data shipped with the system, not I/O on
the submission; it is validated once at configuration.
"""

from __future__ import annotations

import datetime as dt
from typing import Iterator
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from checks.domain import Severity
from checks.facts import SubmissionFacts
from checks.registry import REGISTRY, Check, Params


def _zone(params: Params) -> ZoneInfo:
    return ZoneInfo(params["timezone"])


def _validate(params: Params) -> None:
    try:
        _zone(params)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"timezone：未知的时区 {params['timezone']!r}") from exc
    opens, deadline = params["opens"], params["deadline"]
    if opens is not None and deadline is not None and opens > deadline:
        raise ValueError(f"opens（{opens}）晚于 deadline（{deadline}）")


def _day(d: dt.date) -> str:
    return f"{d.year}年{d.month}月{d.day}日"


@REGISTRY.rule(id="submission-window", clause="四.1", severity=Severity.REJECT, title="征集时间",
               params={"opens": (dt.date | None, None), "deadline": (dt.date | None, None),
                       "timezone": (str, "Asia/Shanghai"), "timezone_label": (str, "北京时间")},
               from_campaign={"opens": "opens", "deadline": "deadline", "timezone": "timezone"},
               validate=_validate)
def submission_window(facts: SubmissionFacts, params: Params) -> Iterator[Check]:
    zone = _zone(params)
    label = params["timezone_label"]
    received = facts.received_at
    if received.tzinfo is None:  # a naive time can only be the server's UTC; never guess the sender's zone
        received = received.replace(tzinfo=dt.timezone.utc)
    local = received.astimezone(zone)
    shown = f"{local:%Y年%m月%d日 %H:%M}（{label}）"
    evidence = {"received_at": local.isoformat()}
    opens: dt.date | None = params["opens"]
    deadline: dt.date | None = params["deadline"]
    if deadline is not None:
        end = dt.datetime.combine(deadline + dt.timedelta(days=1), dt.time(0), tzinfo=zone)
        if local >= end:
            late_by = local - end
            yield Check(False, f"材料于{shown}收到，已超过截止时间{_day(deadline)}24时（四.1），"
                               f"逾期{_late(late_by)}。",
                        evidence={**evidence, "deadline_end": end.isoformat(),
                                  "late_seconds": int(late_by.total_seconds())},
                        fix="征集已截止，逾期材料一般不再受理；如有特殊情况，请与征集工作组联系说明。")
            return
    if opens is not None:
        start = dt.datetime.combine(opens, dt.time(0), tzinfo=zone)
        if local < start:
            yield Check(False, f"材料于{shown}收到，早于征集开始时间{_day(opens)}（四.1）。",
                        evidence={**evidence, "opens": start.isoformat()},
                        fix=f"请在{_day(opens)}征集开始后重新发送。")
            return
    window = f"截止时间{_day(deadline)}24时" if deadline else "征集期"
    yield Check(True, f"材料于{shown}收到，在{window}之内。", evidence=evidence)


def _late(delta: dt.timedelta) -> str:
    hours = int(delta.total_seconds() // 3600)
    if hours >= 48:
        return f"{hours // 24}天"
    if hours >= 1:
        return f"{hours}小时"
    return f"{max(1, int(delta.total_seconds() // 60))}分钟"
