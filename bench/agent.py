"""Edge agent benchmarks against a real Mosquitto started for the run.

    python -m bench.agent footprint [--seconds 60]   # RSS and CPU at 50 metrics x 1 Hz
    python -m bench.agent replay [--samples 1000000] # replay rate of a queued backlog

Both print one JSON object of figures. `footprint` runs one agent in this process (the
harness adds nothing but a sleep) reading 50 custom gauges every second, batching 10 s.
`replay` queues the backlog offline (an agent that cannot reach its broker), then starts
an agent on the same queue against the broker, unthrottled, and times until every message
was acknowledged.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from adapters.clock import SystemClock
from adapters.mqtt import MqttSettings
from contract import EquipmentType, MetricDeclaration, MetricKind, Sample
from edge_agents.agent import Agent, AgentConfig
from edge_agents.driver import CallableDriver, Reading
from loopmeter.services import LocalServices, ServicePorts, free_ports

CLOCK = SystemClock()
GAUGES = [f"x_m{i:02d}" for i in range(50)]


def _gauges(names: Sequence[str], now_ms: int) -> Reading:
    return {name: float(now_ms % 1000) for name in names}


def _agent(url: str, state: Path, *, batch_s: float = 10.0,
           replay_per_s: float = 20_000) -> Agent:
    config = AgentConfig.model_validate({
        "site": "bench", "line": "l1", "device": "d1",
        "device_type": EquipmentType.ELECTRICITY_METER, "batch_s": batch_s,
        "max_samples_per_message": 1000, "tick_s": 0.05,
        "queue": {"max_samples": 2_000_000},
        "replay": {"samples_per_s": replay_per_s, "max_in_flight": 100},
        "confirm": {"enabled": False}})  # no ingest runs here: the broker's PUBACK is the end
    metrics = [MetricDeclaration(name=n, unit="1", kind=MetricKind.GAUGE, period_s=1.0)
               for n in GAUGES]
    return Agent(config, CallableDriver(metrics, _gauges), MqttSettings(url=url), CLOCK, state)


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def footprint(url: str, state: Path, seconds: float) -> dict[str, float]:
    agent = _agent(url, state)
    agent.start()
    CLOCK.sleep(5)  # connected, first batch out: measure the steady state
    cpu0, wall0 = time.process_time(), CLOCK.monotonic()
    CLOCK.sleep(seconds)
    cpu, wall = time.process_time() - cpu0, CLOCK.monotonic() - wall0
    rss = _rss_mb()
    stats = agent.stats
    agent.stop()
    return {"metrics": len(GAUGES), "rate_hz": 1.0, "seconds": round(wall, 1),
            "cpu_percent": round(100 * cpu / wall, 2), "rss_mb": round(rss, 1),
            "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "samples": stats.samples, "acked_messages": stats.acked_messages}


def replay(url: str, state: Path, samples: int) -> dict[str, float]:
    offline = _agent("mqtt://127.0.0.1:1", state)  # nothing listens on port 1
    start_ms = CLOCK.now_ms() - samples * 1000
    t0 = CLOCK.monotonic()
    for i in range(samples):
        ts = start_ms + i * 1000
        offline.store.add_sample(Sample(ts=ts, values={"x_m00": float(i), "x_m01": 1.5}))
    offline.flush()
    queued_s = CLOCK.monotonic() - t0
    depth, size = offline.store.depth, sum(p.stat().st_size for p in state.iterdir())
    offline.stop()
    agent = _agent(url, state, replay_per_s=1e9)
    t1 = CLOCK.monotonic()
    while agent.stats.acked_samples < depth:  # live samples wait for their batch (10 s)
        agent.tick()
    replay_s = CLOCK.monotonic() - t1
    stats = agent.stats
    agent.stop()
    return {"samples": depth, "queue_file_mb": round(size / 2**20, 1),
            "queue_fill_samples_per_s": round(samples / queued_s),
            "replay_s": round(replay_s, 1), "replay_samples_per_s": round(depth / replay_s),
            "replay_messages_per_s": round(stats.acked_messages / replay_s),
            "acked_samples": stats.acked_samples}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=["footprint", "replay"])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--samples", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        services = LocalServices(root / "services", ServicePorts(*free_ports(3)),
                                 services=["mosquitto"])
        services.up()
        try:
            state = root / "state"
            figures = (footprint(services.mqtt_url, state, args.seconds)
                       if args.what == "footprint"
                       else replay(services.mqtt_url, state, args.samples))
        finally:
            services.down()
    print(json.dumps({args.what: figures}, indent=2))


if __name__ == "__main__":
    main()
