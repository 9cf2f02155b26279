"""The dynamic-security adapter against a scripted link: commands out, answers matched."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from gateway.broker import DYNSEC_RESPONSE_TOPIC, DYNSEC_TOPIC, DynsecAdmin, MessageHandler
from gateway.core.errors import Unavailable


@dataclass
class ScriptedLink:
    """Answers each command batch at once, with `errors` by command name."""

    errors: dict[str, str] = field(default_factory=dict)
    silent: bool = False
    sent: list[list[dict[str, Any]]] = field(default_factory=list)
    handlers: dict[str, MessageHandler] = field(default_factory=dict)

    def subscribe(self, topic_filter: str, handler: MessageHandler) -> None:
        self.handlers[topic_filter] = handler

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        assert topic == DYNSEC_TOPIC and not retain
        commands = json.loads(payload)["commands"]
        self.sent.append(commands)
        if self.silent:
            return
        noise = {"responses": [{"command": "getClient", "correlationData": "someone-else"}]}
        answer = {"responses": [
            {"command": c["command"], "correlationData": c["correlationData"],
             **({"error": self.errors[c["command"]]} if c["command"] in self.errors else {})}
            for c in commands]}
        handler = self.handlers[DYNSEC_RESPONSE_TOPIC]
        handler(DYNSEC_RESPONSE_TOPIC, json.dumps(noise).encode(), False)
        handler(DYNSEC_RESPONSE_TOPIC, b"not json", False)
        handler(DYNSEC_RESPONSE_TOPIC, json.dumps(answer).encode(), False)


def test_create_starts_clean_pins_the_client_id_and_confines_the_role_to_the_prefix() -> None:
    link = ScriptedLink(errors={"deleteClient": "Client not found",
                                "deleteRole": "Role not found"})
    DynsecAdmin(link, 1.0).create_device("dev.a.b.c", "pw", "loopmeter/v1/a/b/c",
                                         client_id="dev.a.b.c")
    (batch,) = link.sent
    assert [c["command"] for c in batch] == ["deleteClient", "deleteRole", "createRole",
                                             "createClient"]
    assert batch[2]["acls"] == [
        {"acltype": "publishClientSend", "topic": "loopmeter/v1/a/b/c/ack/#", "allow": False,
         "priority": 1},
        *({"acltype": kind, "topic": "loopmeter/v1/a/b/c/#", "allow": True, "priority": 0}
          for kind in ("publishClientSend", "publishClientReceive", "subscribePattern",
                       "unsubscribePattern"))]
    assert batch[3]["clientid"] == "dev.a.b.c"
    assert batch[3]["roles"] == [{"rolename": batch[2]["rolename"], "priority": 0}]
    assert len({c["correlationData"] for c in batch}) == 1


@pytest.mark.parametrize(("call", "errors"), [
    (lambda admin: admin.set_password("dev.x", "pw"), {"setClientPassword": "Client not found"}),
    (lambda admin: admin.create_device("dev.x", "pw", "p", client_id="dev.x"),
     {"createRole": "Role already exists"}),
])
def test_other_errors_are_unavailable(call: Any, errors: dict[str, str]) -> None:
    with pytest.raises(Unavailable, match=next(iter(errors.values()))):
        call(DynsecAdmin(ScriptedLink(errors=errors), 1.0))


def test_no_answer_is_unavailable() -> None:
    with pytest.raises(Unavailable, match="did not answer"):
        DynsecAdmin(ScriptedLink(silent=True), 0.01).delete_device("dev.x")
