#!/bin/sh
# One-shot job: creates Loopmeter's broker roles and logins through the dynamic-security
# API, as the admin. Safe to rerun: what exists already is left as it is; any other error
# fails the job, and with it the services that wait for it.
# Access is denied by default: a login may do only what one of its roles allows.
#   loopmeter-reader   read every topic under loopmeter/, also as an MQTT 5 shared
#                      subscription (malformed topics too: ingest dead-letters them)
#   loopmeter-acks     publish devices' acknowledgements (loopmeter/v1/+/+/+/ack/#)
#   loopmeter-devices  publish as any device (the demo simulator, the gateway's HTTP ingest)
#   ingest: reader and acks, pinned to client id loopmeter-ingest-0 (no other client can
#   take over its persistent session); simulator: devices; gateway: reader and devices, plus
#   the dynsec admin role created by `mosquitto_ctrl dynsec init` (it manages device logins,
#   each pinned to its own client id and confined to its own topics). The admin itself is
#   left alone: changing the roles of the connected client would disconnect mosquitto_ctrl.
set -eu
: "${MQTT_HOST:=mosquitto}" "${MQTT_PORT:=1883}"

fail() {
    echo "mosquitto_ctrl dynsec $1: $2" >&2
    exit 1
}

# Runs one dynsec command; returns 2 if the thing exists already. mosquitto_ctrl 2.0
# exits 0 even on errors, so its output is what tells.
ctrl() {
    output=$(mosquitto_ctrl -h "$MQTT_HOST" -p "$MQTT_PORT" -u "$MQTT_ADMIN_USERNAME" \
             -P "$MQTT_ADMIN_PASSWORD" dynsec "$@" 2>&1) || fail "$1" "$output"
    case "$output" in
        *"already exists"*) return 2 ;;
        *rror*|*"ot authorized"*) fail "$1" "$output" ;;
    esac
}

# new_role NAME [ACLTYPE TOPIC]...: the role with its ACLs, unless the role exists.
new_role() {
    name=$1
    shift
    ctrl createRole "$name" || return 0
    while [ $# -gt 0 ]; do
        ctrl addRoleACL "$name" "$1" "$2" allow
        shift 2
    done
}

# new_client NAME PASSWORD CLIENTID ROLE...: the login with its roles, unless the login
# exists; a CLIENTID other than "" pins the login to that client id.
new_client() {
    name=$1
    password=$2
    clientid=$3
    shift 3
    if [ -n "$clientid" ]; then
        ctrl createClient "$name" -c "$clientid" -p "$password" || return 0
    else
        ctrl createClient "$name" -p "$password" || return 0
    fi
    for role in "$@"; do
        ctrl addClientRole "$name" "$role"
    done
}

for acltype in publishClientSend publishClientReceive subscribe unsubscribe; do
    ctrl setDefaultACLAccess "$acltype" deny
done
# Mosquitto 2.0 checks a shared subscription against its full $share/group/... filter.
new_role loopmeter-reader subscribePattern 'loopmeter/#' \
    subscribePattern '$share/+/loopmeter/#' publishClientReceive 'loopmeter/#' \
    unsubscribePattern 'loopmeter/#'
new_role loopmeter-acks publishClientSend 'loopmeter/v1/+/+/+/ack/#'
new_role loopmeter-devices publishClientSend 'loopmeter/v1/#'
new_client ingest "$MQTT_INGEST_PASSWORD" loopmeter-ingest-0 loopmeter-reader loopmeter-acks
new_client simulator "$MQTT_SIMULATOR_PASSWORD" "" loopmeter-devices
new_client gateway "$MQTT_GATEWAY_PASSWORD" "" admin loopmeter-reader loopmeter-devices
echo "broker accounts ready: ingest, simulator, gateway"
