"""The plugin test kit, at the path plugins import it from: a re-export of
``zoo.plugin.testing`` (kept so that ``from zoo.testing import PluginContract`` keeps
working)."""

from zoo.plugin.testing import PluginContract, run_contract

__all__ = ["PluginContract", "run_contract"]
