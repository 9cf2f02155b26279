"""Configuration rendering of the local services: no processes, no sockets."""

from __future__ import annotations

import base64
import hashlib
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from adapters.influx import InfluxSettings
from adapters.local_services import SERVICES_DIR_ENV
from adapters.mqtt import MqttSettings
from adapters.mqtt.dynsec import device_acls
from ingest_service.source import MAX_PACKET_BYTES
from loopmeter import services as services_module
from loopmeter.services import (
    LocalServices,
    MqttAccount,
    ServiceError,
    ServicePorts,
    chosen_ports,
    render_dynsec_config,
    render_influxdb_conf,
    render_mosquitto_conf,
    render_nginx_conf,
)

HOME = Path("/state/mosquitto")
PLUGIN = Path("/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so")


def _directives(conf: str) -> list[tuple[str, str]]:
    pairs = (line.split(" ", 1) for line in conf.splitlines() if line and line[0] != "#")
    return [(key, value) for key, value in pairs]


def _values(conf: str, key: str) -> list[str]:
    return [value for name, value in _directives(conf) if name == key]


# ---------------------------------------------------------------- mosquitto.conf


def test_anonymous_broker_listens_on_loopback_and_persists_in_its_home() -> None:
    conf = render_mosquitto_conf(HOME, 18830, auth="anonymous")
    assert _values(conf, "listener") == ["18830 127.0.0.1"]
    assert _values(conf, "allow_anonymous") == ["true"]
    assert _values(conf, "persistence") == ["true"]
    assert _values(conf, "persistence_location") == ["/state/mosquitto/data/"]
    assert _values(conf, "max_queued_messages") == ["100000"]
    assert _values(conf, "plugin") == []


def test_the_user_directive_appears_only_when_asked_for() -> None:
    assert _values(render_mosquitto_conf(HOME, 1, auth="anonymous"), "user") == []
    as_root = render_mosquitto_conf(HOME, 1, auth="anonymous", run_as="root")
    assert _values(as_root, "user") == ["root"]


def test_dynsec_broker_loads_the_plugin_and_refuses_anonymous_clients() -> None:
    conf = render_mosquitto_conf(HOME, 18830, auth="dynsec", dynsec_plugin=PLUGIN)
    assert _values(conf, "allow_anonymous") == ["false"]
    assert _values(conf, "plugin") == [str(PLUGIN)]
    assert _values(conf, "plugin_opt_config_file") == ["/state/mosquitto/dynamic-security.json"]


def test_dynsec_without_the_plugin_is_a_clear_error() -> None:
    with pytest.raises(ServiceError, match=re.escape("mosquitto_dynamic_security.so")):
        render_mosquitto_conf(HOME, 18830, auth="dynsec")


# ---------------------------------------------------------------- dynamic-security.json


def _fixed_salt(size: int) -> bytes:
    return bytes(range(size))


def test_dynsec_passwords_are_pbkdf2_sha512_as_mosquitto_ctrl_writes_them() -> None:
    config = render_dynsec_config(MqttAccount("admin", SecretStr("s3cret")), salt=_fixed_salt)
    (client,) = config["clients"]
    assert set(client) == {"username", "password", "salt", "iterations", "roles"}
    salt = base64.b64decode(client["salt"])
    assert salt == bytes(range(12))
    expected = hashlib.pbkdf2_hmac("sha512", b"s3cret", salt, client["iterations"])
    assert base64.b64decode(client["password"]) == expected
    assert len(expected) == 64


def test_each_client_gets_its_own_salt() -> None:
    config = render_dynsec_config(MqttAccount("admin", "a"), [MqttAccount("ingest", "a")])
    admin, ingest = config["clients"]
    assert admin["salt"] != ingest["salt"]
    assert admin["password"] != ingest["password"]


def _acls(config: dict[str, Any], role: str) -> set[tuple[str, str]]:
    roles = {item["rolename"]: item["acls"] for item in config["roles"]}
    return {(acl["acltype"], acl["topic"]) for acl in roles[role] if acl["allow"]}


def test_admin_may_drive_dynsec_and_ingest_only_reads_and_acknowledges() -> None:
    config = render_dynsec_config(MqttAccount("admin", "a"), [
        MqttAccount("ingest", "b"), MqttAccount("gw", "c", role="gateway")])
    assert [(c["username"], c["roles"]) for c in config["clients"]] == [
        ("admin", [{"rolename": "admin"}]),
        ("ingest", [{"rolename": "ingest"}]),
        ("gw", [{"rolename": "gateway"}]),
    ]
    reading = {
        ("subscribePattern", "loopmeter/#"),
        ("subscribePattern", "$share/+/loopmeter/#"),
        ("publishClientReceive", "loopmeter/#"),
    }
    control = {
        ("publishClientSend", "$CONTROL/dynamic-security/#"),
        ("publishClientReceive", "$CONTROL/dynamic-security/#"),
        ("subscribePattern", "$CONTROL/dynamic-security/#"),
    }
    assert reading | control <= _acls(config, "admin")
    assert reading | control <= _acls(config, "gateway")
    assert reading <= _acls(config, "ingest")
    assert {acl for acl in _acls(config, "ingest") if acl[0] == "publishClientSend"} == {
        ("publishClientSend", "loopmeter/v1/+/+/+/ack/#")}


def test_access_is_denied_by_default() -> None:
    config = render_dynsec_config(MqttAccount("admin", "a"))
    assert config["defaultACLAccess"] == {"publishClientSend": False,
                                          "publishClientReceive": False,
                                          "subscribe": False, "unsubscribe": False}


def test_a_pinned_account_carries_its_client_id() -> None:
    config = render_dynsec_config(MqttAccount("admin", "a"), [
        MqttAccount("ingest-0", "b", client_id="loopmeter-ingest-0"), MqttAccount("free", "c")])
    _, pinned, free = config["clients"]
    assert pinned["clientid"] == "loopmeter-ingest-0"
    assert "clientid" not in free


def test_a_device_may_only_touch_its_own_subtree() -> None:
    acls = device_acls("loopmeter/v1/s/l/d")
    assert [(acl["acltype"], acl["topic"], acl["priority"]) for acl in acls
            if not acl["allow"]] == [("publishClientSend", "loopmeter/v1/s/l/d/ack/#", 1)]
    assert {(acl["acltype"], acl["topic"]) for acl in acls if acl["allow"]} == {
        (kind, "loopmeter/v1/s/l/d/#") for kind in (
            "publishClientSend", "publishClientReceive", "subscribePattern",
            "unsubscribePattern")}


def test_an_account_s_repr_hides_its_password() -> None:
    assert "hunter2" not in repr(MqttAccount("ingest", "hunter2"))


# ---------------------------------------------------------------- influxdb.conf


def test_influxdb_keeps_its_data_in_its_home_and_listens_on_loopback() -> None:
    conf = tomllib.loads(render_influxdb_conf(Path("/state/influxdb"), 18087))
    assert conf["reporting-disabled"] is True
    assert conf["bind-address"] == "127.0.0.1:0"
    assert conf["meta"]["dir"] == "/state/influxdb/meta"
    assert (conf["data"]["dir"], conf["data"]["wal-dir"]) == (
        "/state/influxdb/data", "/state/influxdb/wal")
    assert conf["http"]["bind-address"] == "127.0.0.1:18087"
    assert conf["http"]["auth-enabled"] is False
    assert conf["continuous_queries"]["enabled"] is False
    assert "max-values-per-tag" not in conf["data"]


def test_influxdb_paths_are_quoted_for_toml() -> None:
    conf = tomllib.loads(render_influxdb_conf(Path('/odd "dir"/influxdb'), 1))
    assert conf["meta"]["dir"] == '/odd "dir"/influxdb/meta'


# ---------------------------------------------------------------- nginx.conf

PORTS = ServicePorts(mqtt=1, influx=28086, influx_backend=28087)


def test_nginx_fronts_the_backend_on_the_public_port() -> None:
    conf = render_nginx_conf(Path("/state/nginx"), PORTS)
    assert "listen 127.0.0.1:28086;" in conf
    assert "server 127.0.0.1:28087;" in conf
    assert "client_max_body_size 50m;" in conf
    assert 'proxy_set_header Authorization "";' in conf


def test_nginx_maps_the_v2_write_route_and_its_precisions() -> None:
    conf = render_nginx_conf(Path("/state/nginx"), PORTS)
    assert "proxy_pass http://influxdb/write?db=$arg_bucket&precision=$influx_precision;" in conf
    mapping = re.search(r"map \$arg_precision \$influx_precision \{(.*?)\}", conf, re.S)
    assert mapping is not None
    pairs = dict(line.strip().rstrip(";").split() for line in mapping[1].strip().splitlines())
    assert pairs == {"default": "invalid", '""': "n", "ns": "n", "us": "u", "ms": "ms", "s": "s"}


def test_nginx_keeps_every_file_in_its_home() -> None:
    conf = render_nginx_conf(Path("/state/nginx"), PORTS, run_as="root")
    paths = re.findall(r'"(/[^"]*)"', conf)
    assert len(paths) == 7
    assert all(path.startswith("/state/nginx/") for path in paths)
    assert conf.startswith("# Generated") and "\nuser root;\n" in conf


# ---------------------------------------------------------------- LocalServices, CLI


def test_urls_follow_thechosen_ports(tmp_path: Path) -> None:
    local = LocalServices(tmp_path, ServicePorts(mqtt=1, influx=2, influx_backend=3))
    assert local.mqtt_url == "mqtt://127.0.0.1:1"
    assert local.influx_url == "http://127.0.0.1:2"
    assert local.influx_backend_url == "http://127.0.0.1:3"


def test_default_ports_avoid_the_system_services() -> None:
    assert ServicePorts() == ServicePorts(mqtt=18830, influx=18086, influx_backend=18087)


def test_dynsec_needs_an_admin(tmp_path: Path) -> None:
    with pytest.raises(ServiceError, match="admin"):
        LocalServices(tmp_path, auth="dynsec")


def test_a_state_folder_with_spaces_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ServiceError, match="spaces"):
        LocalServices(tmp_path / "my services")


def test_nothing_runs_in_a_fresh_state_folder(tmp_path: Path) -> None:
    statuses = LocalServices(tmp_path, ServicePorts(mqtt=1, influx=2, influx_backend=3)).status()
    assert [(item.name, item.pid, item.running) for item in statuses] == [
        ("influxdb", None, False), ("nginx", None, False), ("mosquitto", None, False)]


def test_the_cli_prefers_given_ports_then_saved_ones_then_defaults(tmp_path: Path) -> None:
    assert chosen_ports(tmp_path, None, None, None) == ServicePorts()
    ServicePorts(mqtt=1, influx=2, influx_backend=3).save(tmp_path / "ports.json")
    assert chosen_ports(tmp_path, None, 20, None) == ServicePorts(1, 20, 3)


# ---------------------------------------------------------------- missing binaries


def test_a_user_without_the_binaries_is_told_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(services_module, "_which_all", lambda: None)
    monkeypatch.setattr(services_module.os, "geteuid", lambda: 1000)
    with pytest.raises(ServiceError, match="apt-get install mosquitto influxdb nginx-light"):
        services_module.find_binaries()


def test_root_without_the_binaries_installs_them(monkeypatch: pytest.MonkeyPatch) -> None:
    installed: list[tuple[str, ...]] = []
    monkeypatch.setattr(services_module, "_which_all", lambda: services_module.Binaries(
        *(Path(f"/bin/{name}") for name in ("m", "i", "n", "s")), None) if installed else None)
    monkeypatch.setattr(services_module, "_apt_install", installed.append)
    monkeypatch.setattr(services_module.os, "geteuid", lambda: 0)
    assert services_module.find_binaries().mosquitto == Path("/bin/m")
    assert installed == [("mosquitto", "influxdb", "nginx-light")]


def test_every_default_url_follows_the_ports_saved_by_up(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert MqttSettings().url == "mqtt://127.0.0.1:18830"
    monkeypatch.setenv(SERVICES_DIR_ENV, str(tmp_path))
    ServicePorts(mqtt=28830, influx=28086, influx_backend=28087).save(tmp_path / "ports.json")
    assert MqttSettings().url == "mqtt://127.0.0.1:28830"
    assert InfluxSettings().url == "http://127.0.0.1:28086"


def test_the_broker_refuses_packets_larger_than_ingest_accepts() -> None:
    limit = f"max_packet_size {MAX_PACKET_BYTES}"
    assert limit in render_mosquitto_conf(HOME, 18830, auth="anonymous").splitlines()
    deploy = Path(__file__).parents[2] / "deploy" / "mosquitto" / "mosquitto.conf"
    assert limit in deploy.read_text().splitlines()
