import os
import tempfile
from pathlib import Path

import pytest

from adapters.local_services import SERVICES_DIR_ENV

pytest_plugins = ["pytester", "tests.servers", "tests.support.guard"]

# Every default URL follows the ports saved by `loopmeter services up`; tests must not pick
# up those of a developer's running services, so they look in a folder that has none.
os.environ[SERVICES_DIR_ENV] = str(Path(tempfile.mkdtemp(prefix="loopmeter-no-services-")))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The long chaos run takes minutes: only `-m chaos` (make chaos) runs it."""
    if "chaos" in (config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(reason="the long chaos run: make chaos")
    for item in items:
        if "chaos" in item.keywords:
            item.add_marker(skip)
