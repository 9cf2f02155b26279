"""Adapters: the clock, backoff, MQTT, InfluxDB and the ops HTTP server, behind small interfaces.

The layer above `contract`: services and models reach the outside world only through these
modules, and each translates its library's exceptions into Loopmeter's own, once.
"""
