"""Loopmeter ingest: MQTT telemetry, validated by the contract, stored in InfluxDB."""
