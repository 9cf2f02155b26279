from dashboards.cli import app

app(prog_name="python -m dashboards")
