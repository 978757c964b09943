"""The plugin contract, in one place: what zoo holds every encoder, mask generator and loss
term to, checked the same way by ``zoo plugins --check``, by model building
(``probe_encoder``, on every encoder built), by the registry at load (``check_defaults``) and by the test
kit (``zoo.plugin.testing``).

Every failure is a ``ContractError``: one line naming the plugin, its package, the field,
what was declared and what came back, and the fix.

Which kinds there are, and each one's options key, is ``zoo.plugin.kinds``' table; this
module reads it from the objects it is given (a registry's ``Registered`` items carry their
row), and imports neither the table nor the registry: both import this module. So a
``registry`` parameter here is a ``zoo.plugin.registry.Registry``, and ``kind`` in
``check_defaults`` a ``zoo.plugin.kinds.Kind``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import Tensor

from zoo.errors import ZooError

# Small, quick on CPU, and unlike each other: a square, a bigger square, a non-square.
ENCODER_SIZES: tuple[tuple[int, int], ...] = ((32, 32), (64, 64), (32, 64))
MASK_SIZES: tuple[tuple[int, int], ...] = ((32, 32), (48, 40))
LOSS_SIZE: tuple[int, int] = (16, 16)
IN_CHANNELS: tuple[int, ...] = (3, 4)  # the image, or the image plus the mask channel
_ORIGIN = "_zoo_origin"  # attribute build_encoder() leaves on a module: who made it


class ContractError(ZooError):
    """A plugin does not keep the contract; the message (one line) says who, what and how
    to fix it."""


def origin(kind: str, name: str, item: Any = None) -> str:
    """``encoder 'gated' (plugin 'gated', zoo-gated 0.1.0)``: who a message is about."""
    if item is None:
        return f"{kind} '{name}'"
    return f"{kind} '{name}' (plugin '{item.plugin}', {item.package} {item.version})"


def tag(module: Any, kind: str, name: str, item: Any) -> Any:
    """Remember on a built module where it came from, so later errors can name it."""
    try:
        setattr(module, _ORIGIN, origin(kind, name, item))
    except Exception:  # noqa: BLE001  (a module that refuses attributes is still usable)
        pass
    return module


def _who(module: Any, fallback: str) -> str:
    found = getattr(module, _ORIGIN, None)
    if found:
        return found
    cls = type(module)
    return f"{fallback} {cls.__module__}.{cls.__qualname__}"


def _err(who: str, field: str, declared: Any, got: Any, fix: str) -> ContractError:
    return ContractError(f"{who}: {field} declares {declared} but {got}; {fix}")


def _one_line(exc: BaseException) -> str:
    text = " / ".join(s.strip() for s in str(exc).splitlines() if s.strip())
    return text if isinstance(exc, ZooError) else f"{type(exc).__name__}: {text}"


# ---- config defaults (checked at load) --------------------------------------------------------


def check_defaults(kind: Any, spec: Any, plugin: str = "?", package: str = "?") -> None:
    """The spec's config dataclass must build with no arguments: that is what a user who
    sets no options gets. Raises ContractError naming the field and the failure."""
    who = f"{kind.name} '{spec.name}' (plugin '{plugin}', {package})"
    if not dataclasses.is_dataclass(spec.config):
        raise ContractError(f"{who}: config must be a dataclass, got {spec.config!r}; "
                            "decorate the config class with @dataclass")
    missing = [f.name for f in dataclasses.fields(spec.config)
               if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:
        raise ContractError(f"{who}: config fields need defaults: {', '.join(missing)}; give "
                            f"each a default in {spec.config.__name__}")
    try:
        spec.config()
    except Exception as exc:  # noqa: BLE001  (any failure here is the plugin's)
        raise ContractError(
            f"{who}: config {spec.config.__name__}() fails with its own defaults, so it "
            f"would fail for every user who sets no {kind.options}: {_one_line(exc)}; fix "
            f"the default in {spec.config.__name__}") from exc


def _config(item: Any, args: dict[str, Any] | None, who: str) -> Any:
    from zoo.config import from_dict

    spec, options = item.spec, item.kind.options
    try:
        return from_dict(spec.config, args or {}, prefix=options)
    except Exception as exc:  # noqa: BLE001
        given = f"with {options} {args}" if args else "with its defaults"
        raise ContractError(f"{who}: config {spec.config.__name__} cannot be built {given}: "
                            f"{_one_line(exc)}") from exc


def _lookup(kind: str, name: str, registry: Any) -> tuple[Any, Any, str]:
    """``(spec, Registered, who)`` of ``name``. The registry is always passed in: it checks
    plugins with this module, so this module never imports it
    (``zoo.plugin.registry.get_registry()`` is the usual one)."""
    item = registry.get(kind, name)
    return item.spec, item, origin(kind, name, item)


# ---- encoders ---------------------------------------------------------------------------------


def check_encoder_output(encoder: Any, x_shape: Sequence[int], out: Any) -> None:
    """What ``encoder`` declares against what its forward returned for an input of
    ``x_shape`` ``(B, C, H, W)``: ``out_channels`` and ``output_size(H, W)``.

    Cheap (a shape comparison and one ``output_size`` call): ``probe_encoder`` runs it on
    every encoder zoo builds, ``check_encoder`` at every test size. Raises a one-line
    ContractError otherwise."""
    who = _who(encoder, "encoder")
    b, _, h, w = (int(v) for v in x_shape)
    if not isinstance(out, Tensor):
        raise ContractError(f"{who}: forward must return a Tensor (B, out_channels, h2, w2), "
                            f"got {type(out).__name__}; return the feature map")
    got = tuple(out.shape)
    if out.dim() != 4 or got[0] != b:
        raise ContractError(f"{who}: forward on {tuple(x_shape)} must return (B={b}, "
                            f"out_channels, h2, w2), got {got}; return one 4-d feature map")
    channels = getattr(encoder, "out_channels", None)
    if got[1] != channels:
        raise _err(who, "out_channels", channels, f"forward returned {got[1]} channels for "
                   f"input {tuple(x_shape)}", "make out_channels equal to what forward "
                   "returns (or forward return that many)")
    size = tuple(int(v) for v in encoder.output_size(h, w))
    if got[2:] != size:
        raise _err(who, f"output_size({h}, {w})", f"{size[0]}x{size[1]}",
                   f"forward returned {got[2]}x{got[3]}", "make output_size compute the size "
                   "forward returns (the U-Net sizes and checks inputs from it)")


def _forward(encoder: Any, x: Tensor, who: str) -> Tensor:
    """``encoder(x)`` without gradients; whatever it raises becomes a ContractError naming
    the input shape."""
    try:
        with torch.no_grad():
            return encoder(x)
    except Exception as exc:  # noqa: BLE001
        raise ContractError(f"{who}: forward on {tuple(x.shape)} raised "
                            f"{_one_line(exc)}") from exc


def _declared(enc: Any, who: str, in_channels: int) -> None:
    if not isinstance(enc, torch.nn.Module):
        raise _err(who, f"build(config, {in_channels})", "an nn.Module",
                   f"returned {type(enc).__name__}", "return the encoder module")
    channels = getattr(enc, "out_channels", None)
    if isinstance(channels, bool) or not isinstance(channels, int) or channels < 0:
        raise _err(who, "out_channels", "an int >= 0", f"build(config, {in_channels}) gave "
                   f"{channels!r}", "set self.out_channels to the feature channels forward "
                   "returns (0 for no fusion)")
    if not callable(getattr(enc, "output_size", None)):
        raise ContractError(f"{who}: the module has no output_size(h, w) method; add one that "
                            "returns the (h2, w2) forward produces for an h x w input")


def check_encoder(name: str, args: dict[str, Any] | None = None, *,
                  registry: Any,
                  sizes: Iterable[tuple[int, int]] = ENCODER_SIZES,
                  in_channels: Iterable[int] = IN_CHANNELS, batch: int = 2,
                  grads: bool = True) -> None:
    """The encoder contract: builds (with ``args``, default: its defaults) for every
    ``in_channels``; declares ``out_channels`` and ``output_size``; its forward returns
    what it declares for each of ``sizes``; gradients reach its parameters."""
    spec, item, who = _lookup("encoder", name, registry)
    config = _config(item, args, who)
    in_channels = tuple(in_channels)
    for cin in in_channels:
        try:
            enc = spec.build(config, cin)
        except Exception as exc:  # noqa: BLE001
            raise ContractError(f"{who}: build(config, in_channels={cin}) raised "
                                f"{_one_line(exc)}") from exc
        tag(enc, "encoder", name, item)
        _declared(enc, who, cin)
        enc.eval()
        taken = []
        for h, w in sizes:
            try:
                enc.output_size(h, w)
            except ZooError:
                continue  # an encoder may refuse sizes (with a ZooError that says which work)
            except Exception as exc:  # noqa: BLE001
                raise ContractError(f"{who}: output_size({h}, {w}) raised {_one_line(exc)}; "
                                    "return (h2, w2) or raise ZooError for sizes it cannot "
                                    "take") from exc
            x = torch.rand(batch, cin, h, w, generator=torch.Generator().manual_seed(h * w))
            out = _forward(enc, x, who)
            check_encoder_output(enc, x.shape, out)
            if out.device.type != "meta" and not torch.isfinite(out).all():  # meta: shapes only
                raise ContractError(f"{who}: forward on {tuple(x.shape)} returned NaN or inf")
            taken.append((h, w))
        if not taken:
            raise ContractError(f"{who}: output_size refuses every test size "
                                f"{', '.join(f'{h}x{w}' for h, w in sizes)}; give the kit "
                                "sizes it takes (the kit's PluginContract.encoder_sizes)")
        if grads and cin == max(in_channels):
            _check_encoder_grads(enc, who, batch, cin, taken[0])


_VERIFIED: set[tuple[Any, ...]] = set()  # (registry id, name, args, in_channels, size) passed


def probe_encoder(encoder: Any, in_channels: int, size: tuple[int, int] = (32, 32)) -> None:
    """One forward of a freshly built ``encoder`` on zeros ``(1, in_channels, *size)``, in eval
    mode and without gradients (no BatchNorm statistic moves; train/eval flags are put back),
    held against its declarations. Sizes its ``output_size`` refuses are left to the U-Net,
    which names the sizes that work. ``zoo.plugin.registry.build_encoder`` runs it on every
    build, so a lying encoder fails when the model is built, before any data loads."""
    who = _who(encoder, "encoder")
    _declared(encoder, who, in_channels)
    h, w = size
    try:
        encoder.output_size(h, w)
    except ZooError:
        return
    modes = [m.training for m in encoder.modules()]
    encoder.eval()
    try:
        param = next(encoder.parameters(), None)
        x = torch.zeros(1, in_channels, h, w, device=None if param is None else param.device)
        out = _forward(encoder, x, who)
        check_encoder_output(encoder, x.shape, out)
        if out.device.type != "meta" and not torch.isfinite(out).all():  # meta: shapes only
            raise ContractError(f"{who}: forward on zeros {tuple(x.shape)} returned NaN or "
                                "inf; the model would train on NaN features")
    finally:
        for m, mode in zip(encoder.modules(), modes):
            m.training = mode


def verify_encoder(name: str, args: dict[str, Any] | None = None, in_channels: int = 3,
                   size: tuple[int, int] = (32, 32), *, registry: Any) -> None:
    """One build and one forward of encoder ``name`` with ``args`` at ``size``, held against
    its declarations: the quick part of ``check_encoder`` for places that validate configs
    before anything trains (``zoo tune --dry-run``, ``zoo train`` before data loads).
    Remembered per (name, args, in_channels, size), so a plan of many trials pays once."""
    import json

    key = (id(registry), name, json.dumps(args or {}, sort_keys=True, default=str),
           in_channels, tuple(size))
    if key in _VERIFIED:
        return
    try:
        check_encoder(name, args, registry=registry, sizes=(tuple(size),),
                      in_channels=(in_channels,), grads=False)
    except ContractError as exc:
        if "refuses every test size" not in str(exc):  # a size error is the U-Net's to name
            raise
    _VERIFIED.add(key)


def _check_encoder_grads(enc: Any, who: str, batch: int, cin: int,
                         size: tuple[int, int]) -> None:
    params = [p for p in enc.parameters() if p.requires_grad]
    if not params or enc.out_channels == 0:
        return
    enc.train()
    out = enc(torch.rand(batch, cin, *size, generator=torch.Generator().manual_seed(1)))
    out.square().mean().backward()
    grads = [p.grad for p in params]
    if not any(g is not None and g.abs().sum() > 0 for g in grads):
        raise ContractError(f"{who}: no gradient reaches its parameters from forward's "
                            "output; do not detach the features (or freeze with "
                            "requires_grad=False)")
    if not all(g is None or torch.isfinite(g).all() for g in grads):
        raise ContractError(f"{who}: gradients of its parameters hold NaN or inf")


# ---- masks ------------------------------------------------------------------------------------


def check_mask_output(masks: Any, n: int, h: int, w: int, who: str, call: str) -> None:
    """What every mask batch must be: a float Tensor ``(n, 1, h, w)`` of only 0 and 1.
    Cheap; ``zoo.masks.make_masks`` runs it on every batch it hands out."""
    if not isinstance(masks, Tensor):
        raise _err(who, "generate()", "a Tensor", f"{call} returned {type(masks).__name__}",
                   "return a float tensor (n, 1, h, w)")
    if tuple(masks.shape) != (n, 1, h, w):
        raise _err(who, "shape", (n, 1, h, w), f"{call} returned {tuple(masks.shape)}",
                   "return one (1, h, w) mask per image")
    if not masks.is_floating_point():
        raise _err(who, "dtype", "a float dtype", f"{call} returned {masks.dtype}",
                   "return .float() masks (1 = hole, 0 = known)")


def check_mask(name: str, args: dict[str, Any] | None = None, *,
               registry: Any,
               sizes: Iterable[tuple[int, int]] = MASK_SIZES, n: int = 8) -> None:
    """The mask contract: ``(n, 1, h, w)`` float of only 0 and 1, every mask with a hole
    and some context, the same masks again for the same seed, and ``generator=None`` works."""
    spec, item, who = _lookup("mask", name, registry)
    config = _config(item, args, who)

    def draw(h: int, w: int, seed: int | None) -> Tensor:
        gen = None if seed is None else torch.Generator().manual_seed(seed)
        call = f"generate(config, {n}, {h}, {w}, {'None' if gen is None else 'generator'}, 'cpu')"
        try:
            masks = spec.generate(config, n, h, w, gen, "cpu")
        except Exception as exc:  # noqa: BLE001
            raise ContractError(f"{who}: {call} raised {_one_line(exc)}") from exc
        check_mask_output(masks, n, h, w, who, call)
        bad = masks[(masks != 0) & (masks != 1)]
        if bad.numel():
            raise _err(who, "values", "only 0 and 1", f"{call} returned {bad[0].item():g}",
                       "threshold the mask (1 = hole, 0 = known)")
        holes = masks.sum(dim=(1, 2, 3))
        if (holes == 0).any():
            raise ContractError(f"{who}: {call} returned a mask with no hole (mask "
                                f"{int((holes == 0).nonzero()[0])}); every mask needs at "
                                "least one 1")
        if (holes == h * w).any():
            raise ContractError(f"{who}: {call} returned a mask that is all hole (mask "
                                f"{int((holes == h * w).nonzero()[0])}); leave some context "
                                "(0s) to inpaint from")
        return masks

    for h, w in sizes:
        first = draw(h, w, 0)
        if not torch.equal(first, draw(h, w, 0)):
            raise ContractError(f"{who}: two draws from generators seeded alike differ at "
                                f"{h}x{w}; draw every random number from the generator "
                                "passed in (torch.rand(..., generator=generator))")
        draw(h, w, None)


# ---- loss terms -------------------------------------------------------------------------------


def check_loss(name: str, args: dict[str, Any] | None = None, *,
               registry: Any, size: tuple[int, int] = LOSS_SIZE,
               batch: int = 2) -> None:
    """The loss contract: builds with ``args``; ``forward(pred, target, mask)`` returns a
    finite scalar that sends a gradient to ``pred``; ``update``, if there is one, returns a
    finite scalar too."""
    spec, item, who = _lookup("loss", name, registry)
    config = _config(item, args, who)
    try:
        term = spec.build(config)
    except Exception as exc:  # noqa: BLE001
        raise ContractError(f"{who}: build(config) raised {_one_line(exc)}") from exc
    if not isinstance(term, torch.nn.Module):
        raise _err(who, "build()", "an nn.Module", f"returned {type(term).__name__}",
                   "return an nn.Module whose forward(pred, target, mask) is the loss")
    tag(term, "loss", name, item)
    g = torch.Generator().manual_seed(0)
    pred = torch.rand(batch, 3, *size, generator=g).requires_grad_(True)
    target = torch.rand(batch, 3, *size, generator=g)
    mask = torch.zeros(batch, 1, *size)
    mask[..., size[0] // 4: size[0] // 2, size[1] // 4: size[1] // 2] = 1
    value = _scalar(who, "forward(pred, target, mask)", term, pred, target, mask)
    try:
        value.backward()
    except Exception as exc:  # noqa: BLE001
        raise ContractError(f"{who}: backward through forward's value raised "
                            f"{_one_line(exc)}; compute it with torch ops on pred") from exc
    if pred.grad is None or not pred.grad.abs().sum() > 0:
        raise ContractError(f"{who}: forward(pred, target, mask) sends no gradient to pred; "
                            "do not detach pred (the generator learns only from gradients)")
    if not torch.isfinite(pred.grad).all():
        raise ContractError(f"{who}: the gradient it sends to pred holds NaN or inf")
    if hasattr(term, "update"):
        own = _scalar(who, "update(pred, target, mask)", term.update, pred.detach(), target,
                      mask)
        if any(p.requires_grad for p in term.parameters()) and not own.requires_grad:
            raise ContractError(f"{who}: update(pred, target, mask) returns a value with no "
                                "gradient to the term's own parameters; return the loss the "
                                "term's optimizer minimises")


def _scalar(who: str, call: str, fn: Any, *inputs: Tensor) -> Tensor:
    try:
        value = fn(*inputs)
    except Exception as exc:  # noqa: BLE001
        raise ContractError(f"{who}: {call} raised {_one_line(exc)}") from exc
    if not isinstance(value, Tensor):
        raise _err(who, call, "a scalar Tensor", f"it returned {type(value).__name__}",
                   "return a 0-d tensor (e.g. .mean())")
    if value.numel() != 1:
        raise _err(who, call, "a scalar Tensor", f"it returned shape {tuple(value.shape)}",
                   "reduce it to a 0-d tensor (e.g. .mean())")
    if not torch.isfinite(value).all():
        raise ContractError(f"{who}: {call} returned {value.item()} on ordinary inputs; it "
                            "must be finite")
    return value.reshape(())
