"""zoo: a plugin-based model zoo for image inpainting."""

from zoo._version import __version__
from zoo.plugin.hookspecs import EncoderSpec, MaskSpec, hookimpl

__all__ = ["EncoderSpec", "MaskSpec", "hookimpl", "load", "__version__"]


def load(ref, *, device="auto", storage=None, db=None, tta=None, seam="poisson"):
    """Load a model to inpaint with: ``zoo.load("hf-hub:org/name").inpaint(image, mask)``.

    ``ref`` is a model folder, its model.safetensors, a leaderboard trial id (with
    ``storage``/``db``) or a Hub id, or several as ``"a,b,c"`` (their fills averaged);
    ``tta="flip"`` averages each fill with the mirrored image's. See ``zoo.api``."""
    from zoo.api import load as _load  # lazy: `import zoo` stays light (no torch)

    return _load(ref, device=device, storage=storage, db=db, tta=tta, seam=seam)
