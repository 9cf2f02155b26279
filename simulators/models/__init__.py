"""Equipment and meter models."""
