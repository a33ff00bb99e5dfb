"""Test-suite settings.

Under CI (the environment variable ``CI`` set, as ``.ci/run`` does) hypothesis
runs derandomized and without its example database, so that a clean clone on
any machine explores exactly the same examples; locally it keeps exploring
new ones.
"""

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")
