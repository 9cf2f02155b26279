#!/bin/sh
# Starts the broker; on the very first start, creates the dynamic-security file with the
# admin login from the environment. Afterwards the plugin owns the file (it saves changes
# there), so later starts leave it alone and a changed password in .env has no effect.
set -eu
config=/mosquitto/data/dynamic-security.json
if [ ! -f "$config" ]; then
    mosquitto_ctrl dynsec init "$config" "$MQTT_ADMIN_USERNAME" "$MQTT_ADMIN_PASSWORD"
fi
chown -R mosquitto:mosquitto /mosquitto/data
exec /usr/sbin/mosquitto -c /loopmeter/mosquitto.conf
