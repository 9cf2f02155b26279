import os
import tempfile
from pathlib import Path

from adapters.local_services import SERVICES_DIR_ENV

pytest_plugins = ["tests.servers"]

# Every default URL follows the ports saved by `loopmeter services up`; tests must not pick
# up those of a developer's running services, so they look in a folder that has none.
os.environ[SERVICES_DIR_ENV] = str(Path(tempfile.mkdtemp(prefix="loopmeter-no-services-")))
