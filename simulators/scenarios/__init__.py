"""The shipped plant scenarios (YAML files, loaded by `simulators.scenario`)."""
