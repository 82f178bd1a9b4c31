"""The mailbox connection against the real Dovecot: the RFC 2971 ID command (163/126 refuse SELECT without it),
through imapclient when the server announces ID and through the one function that uses imaplib directly when
it does not; typed, Chinese errors for a refused login and an unreachable server."""

from __future__ import annotations

from dataclasses import replace

import pytest
from imapclient import IMAPClient

from checks.errors import LoginRefused, MailboxUnreachable
from ingest.config import ImapSettings
from ingest.mail.imap import MailboxClient, id_without_capability, send_client_id
from tests.servers import DovecotServer, free_port


def test_id_with_and_without_the_capability(dovecot: DovecotServer, imap_user: str) -> None:
    with dovecot.connect(imap_user) as client:
        assert b"ID" in client.capabilities()
        announced = send_client_id(client)
        assert announced is not None and announced.get(b"name") == b"Dovecot"
        # The path for servers that omit ID from CAPABILITY: same answer, and the connection still works.
        direct = id_without_capability(client)
        assert direct == announced
        assert client.select_folder("INBOX", readonly=True)[b"UIDVALIDITY"]


def test_id_refused_is_not_fatal(dovecot: DovecotServer, imap_user: str) -> None:
    client = IMAPClient(dovecot.host, port=dovecot.port, ssl=False, timeout=30)
    client.login(imap_user, dovecot.password)
    client.logout()
    # After LOGOUT the command fails: logged, None, no exception.
    assert send_client_id(client) is None


def test_connect_errors_are_typed_and_chinese(dovecot: DovecotServer, imap_user: str) -> None:
    settings = ImapSettings(host=dovecot.host, port=dovecot.port, security="plain", username=imap_user,
                            password="wrong", timeout_seconds=10)
    with pytest.raises(LoginRefused, match="无法登录邮箱 .*授权码被拒绝"):
        MailboxClient(settings).connect()
    with pytest.raises(MailboxUnreachable, match="无法连接邮箱服务器"):
        MailboxClient(replace(settings, port=free_port())).connect()
    with pytest.raises(MailboxUnreachable, match="无法解析邮箱服务器地址 imap.example.invalid"):
        MailboxClient(replace(settings, host="imap.example.invalid")).connect()
