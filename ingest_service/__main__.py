from ingest_service.cli import app

app(prog_name="python -m ingest_service")
