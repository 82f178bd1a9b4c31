"""The one comparison of mail addresses: who owns a case, who counts as the same sender for reply limits.

``Zhang.San+tag@QQ.com`` and ``zhang.san@qq.com`` are the same mailbox for every provider our senders use
(163/126/yeah.net, QQ, Foxmail accept ``+tag`` or ignore it; domains and, in practice, local parts are
case-insensitive). Dots are NOT dropped: only Gmail ignores them, and 163 treats ``a.b`` and ``ab`` as
different accounts.
"""

from __future__ import annotations


def address_key(address: str | None) -> str:
    """The normalised form of an address: lower case, ``+tag`` removed from the local part, no angle
    brackets or surrounding space. "" for no address."""
    addr = (address or "").strip().strip("<>").strip().lower()
    local, at, domain = addr.rpartition("@")
    if not at:
        return addr
    local = local.split("+", 1)[0] or local
    return f"{local}@{domain}"


def domain_key(address: str | None) -> str:
    """The domain of an address, lower case ("" when there is none)."""
    return address_key(address).rpartition("@")[2] if "@" in (address or "") else ""
