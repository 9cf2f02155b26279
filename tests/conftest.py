import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import settings

from adapters.local_services import SERVICES_DIR_ENV

pytest_plugins = ["pytester", "tests.servers", "tests.support.guard"]

# Every default URL follows the ports saved by `loopmeter services up`; tests must not pick
# up those of a developer's running services, so they look in a folder that has none.
os.environ[SERVICES_DIR_ENV] = str(Path(tempfile.mkdtemp(prefix="loopmeter-no-services-")))

# Property tests: a per-example deadline measures the machine, not the code, so there is none.
# `explore` (the default) draws new examples on every run and remembers failures in
# .hypothesis/; `ci` (set by .ci/run) draws the same examples every run, so that a landing is
# judged on what it changed, and new counterexamples are found by runs on developers' machines.
settings.register_profile("explore", deadline=None)
settings.register_profile("ci", deadline=None, derandomize=True, database=None)
settings.load_profile(os.environ.get("LOOPMETER_HYPOTHESIS_PROFILE", "explore"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The long chaos run takes minutes: only `-m chaos` (make chaos) runs it."""
    if "chaos" in (config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(reason="the long chaos run: make chaos")
    for item in items:
        if "chaos" in item.keywords:
            item.add_marker(skip)
