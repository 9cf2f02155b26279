# Loopmeter developer commands. `make demo` and `make test` work on a fresh Debian machine as root.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint deps venv bench chaos dashboards golden clean

# Ports of the demo's services: `make demo MQTT_PORT=28830 INFLUX_PORT=28086`; unset, those
# saved by the last run, else 18830/18086/18087 if free, else free ones (saved for next time).
DEMO_PORTS = $(if $(MQTT_PORT),--mqtt-port $(MQTT_PORT)) \
	$(if $(INFLUX_PORT),--influx-port $(INFLUX_PORT)) \
	$(if $(INFLUX_BACKEND_PORT),--influx-backend-port $(INFLUX_BACKEND_PORT))

demo: deps venv  ## Run a simulated plant through agents, broker and ingest into InfluxDB.
	$(BIN)/loopmeter demo $(DEMO_PORTS)

test: deps venv  ## Lint, then the whole test suite (unit and integration, real servers).
	$(MAKE) lint
	$(BIN)/python -m pytest -q

lint: venv
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

deps:
	./scripts/install-system-deps

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

chaos: deps venv  ## The long chaos run (about 10 min): 0 lost, 0 duplicated; figures printed.
	$(BIN)/python -m pytest -q -s -m chaos tests/integration/test_chaos.py

bench: deps venv  ## Benchmarks: figures and ratios measured in one run.
	$(BIN)/python -m bench.codec
	$(BIN)/python -m bench.ingest
	$(BIN)/python -m bench.agent footprint
	$(BIN)/python -m bench.agent replay
	$(BIN)/python -m bench.carbon

golden: venv  ## Regenerate golden files after an intended change; review the diff.
	LOOPMETER_REGEN_GOLDEN=1 $(BIN)/python -m pytest -q tests/contract tests/simulators
	$(BIN)/loopmeter contract schema
	$(BIN)/loopmeter contract catalogue --output docs/catalogue.md
	$(BIN)/loopmeter dashboards build

clean:
	$(BIN)/loopmeter services down || true
	rm -rf var
