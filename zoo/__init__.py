"""zoo: a plugin-based model zoo for image inpainting."""

from zoo.hookspecs import EncoderSpec, MaskSpec, hookimpl

__version__ = "0.1.0"
__all__ = ["EncoderSpec", "MaskSpec", "hookimpl", "__version__"]
