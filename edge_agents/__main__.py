"""`python -m edge_agents run --config FILE`: the agent without the `loopmeter` command."""

from edge_agents.cli import app

app()
