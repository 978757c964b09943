"""Plugin discovery, at its old path: a re-export of ``zoo.plugin.registry``'s public names
(kept for code outside zoo; zoo itself imports ``zoo.plugin.registry``)."""

from zoo.plugin.registry import (ENTRY_POINT_GROUP, ENV_ALLOW, ENV_STRICT, BrokenPlugin,
                                 PluginAborted, Registered, Registry, build_encoder,
                                 encoder_config, get_registry, load_registry, loss_config,
                                 mask_config, plugin_config)

__all__ = ["ENTRY_POINT_GROUP", "ENV_ALLOW", "ENV_STRICT", "BrokenPlugin", "PluginAborted",
           "Registered", "Registry", "build_encoder", "encoder_config", "get_registry",
           "load_registry", "loss_config", "mask_config", "plugin_config"]
