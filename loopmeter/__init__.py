"""Loopmeter: energy and carbon metering for recycling plants."""
