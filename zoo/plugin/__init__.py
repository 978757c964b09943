"""zoo's plugin system: the hooks a plugin implements (``hookspecs``), the table of plugin
kinds, discovery (``registry``), the contract every plugin is held to (``contract``) and the
test kit that runs it under pytest (``testing``).

The plugins themselves are elsewhere: zoo's own in the repository's ``plugins/`` folder
(installed as ``zoo_plugins``), others in their own packages. Both come in through the
``zoo.plugins`` entry-point group. Plugin authors import ``zoo.hookspecs`` and ``zoo.testing``,
the stable re-exports of this package's modules.
"""
