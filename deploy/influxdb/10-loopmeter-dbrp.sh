#!/bin/sh
# Run once by the influxdb:2.7 image after its initial setup: maps the InfluxQL database
# "<bucket>" (retention policy autogen) to the bucket, so that InfluxQL readers (Grafana,
# the gateway, the carbon engine) query it the way they query InfluxDB 1.8 and 3.x.
set -eu
influx v1 dbrp create \
    --org "$DOCKER_INFLUXDB_INIT_ORG" \
    --bucket-id "$DOCKER_INFLUXDB_INIT_BUCKET_ID" \
    --db "$DOCKER_INFLUXDB_INIT_BUCKET" \
    --rp autogen \
    --default
