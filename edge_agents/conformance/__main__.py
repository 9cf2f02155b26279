from edge_agents.conformance.cli import app

app()
