"""Rules that misbehave, in a registry of their own (the real REGISTRY and its meta-tests never see them).

They are real rule functions run by the real engine in the real worker process; imported by name there when
their ``ConfiguredRule`` is unpickled, which is why they live in a module and not inside a test."""

from __future__ import annotations

import hashlib
import os
import re
import signal
from typing import Iterator

from checks.facts import SubmissionFacts
from checks.registry import Check, Params, RuleRegistry

MISBEHAVING = RuleRegistry()


@MISBEHAVING.rule(id="body-present", clause="测试.1", severity="reject", title="正文存在")
def body_present(facts: SubmissionFacts, params: Params) -> Iterator[Check]:
    if not facts.body_text:
        yield Check(False, "邮件正文为空。", fix="请在正文中写明申报单位。")


@MISBEHAVING.rule(id="spins", clause="测试.2", severity="reject", title="死循环")
def spins(facts: SubmissionFacts, params: Params) -> Iterator[Check]:
    while True:  # a rule with a bug that never ends
        pass
    yield Check(True, "unreachable")  # pragma: no cover


@MISBEHAVING.rule(id="backtracks", clause="测试.3", severity="reject", title="正则回溯")
def backtracks(facts: SubmissionFacts, params: Params) -> Iterator[Check]:
    # Catastrophic backtracking over text the sender controls: 2^n steps.
    if re.match(r"^(a+)+$", facts.body_text):
        yield Check(True, "matched")


@MISBEHAVING.rule(id="stuck-in-c", clause="测试.4", severity="reject", title="卡在C代码中")
def stuck_in_c(facts: SubmissionFacts, params: Params) -> Iterator[Check]:
    # Minutes in one C call that never returns to the interpreter, so no Python signal handler runs.
    hashlib.pbkdf2_hmac("sha256", b"x", b"y", 400_000_000)
    yield Check(True, "finished")


@MISBEHAVING.rule(id="kills-worker", clause="测试.5", severity="reject", title="进程退出")
def kills_worker(facts: SubmissionFacts, params: Params) -> Iterator[Check]:
    os.kill(os.getpid(), signal.SIGKILL)  # what a segfault in a C library looks like from outside
    yield Check(True, "unreachable")  # pragma: no cover
