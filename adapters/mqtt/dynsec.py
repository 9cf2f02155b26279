"""Mosquitto dynamic-security rules shared by the broker's set-up and the gateway. No I/O.

A login may do only what one of its roles allows (`DENY_BY_DEFAULT`); a device login is
pinned to its client id and confined to its own topic subtree (`device_acls`).
"""

from __future__ import annotations

from typing import Any

from contract.topics import ACKNOWLEDGEMENTS

# Mosquitto's own default lets every client receive; here no login receives, sends,
# subscribes or unsubscribes unless a role allows it.
DENY_BY_DEFAULT = {"publishClientSend": False, "publishClientReceive": False,
                   "subscribe": False, "unsubscribe": False}


def acl(acltype: str, topic: str, *, allow: bool = True) -> dict[str, Any]:
    """One ACL of a role, in the form of dynamic-security.json and of its commands."""
    return {"acltype": acltype, "topic": topic, "allow": allow}


def device_acls(topic_prefix: str) -> list[dict[str, Any]]:
    """What a device login may do: publish, subscribe and receive under its own prefix only.

    Subscribing to its own subtree lets a device read what is addressed to it there (its
    acknowledgements); it can never subscribe to `#`, `$share/...` or another device's topics,
    nor publish (retained or not) on them.
    """
    subtree = f"{topic_prefix}/#"
    # Evaluated first: acknowledgements under `prefix/ack/` come from ingest only.
    forged = {**acl("publishClientSend", f"{topic_prefix}/{ACKNOWLEDGEMENTS}/#", allow=False),
              "priority": 1}
    return [forged, *(acl(kind, subtree) for kind in (
        "publishClientSend", "publishClientReceive", "subscribePattern", "unsubscribePattern"))]
