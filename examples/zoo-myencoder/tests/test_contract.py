"""zoo's plugin contract on myencoder, through the kit that ships with zoo (zoo.testing).

    pip install -e examples/zoo-myencoder && cd examples/zoo-myencoder && python -m pytest
"""

from zoo.testing import PluginContract


class TestContract(PluginContract):
    plugin = "myencoder"
    settings = {"myencoder": {"widths": [8, 16]}}  # small, for the multi-size checks
