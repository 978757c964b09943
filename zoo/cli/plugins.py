"""`zoo plugins`: what is installed, where it came from, and (``--check``) whether it works.

A broken plugin never takes this command down: it is listed with its error so the user
can see which package to fix. Only ``--check`` turns problems into a non-zero exit code.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from typing import Any

from zoo._json import dumps
from zoo.registry import Registered, Registry, get_registry

CHECK_SHAPE = (2, 3, 32, 32)  # a small CIFAR-sized batch: quick on CPU, valid for every depth


def add_parser(sub: Any, name: str) -> None:
    """Register the `plugins` subcommand."""
    p = sub.add_parser(
        name, help="list encoder and mask plugins (and check that they work)",
        description="List installed fusion encoders and mask generators with their source "
                    "package, version and parameters. Broken plugins are listed with their error.")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    p.add_argument("--check", action="store_true",
                   help="build every encoder into the U-Net and run a dummy forward; "
                        "exit 1 if any fails or any plugin is broken")
    # SUPPRESS so that `zoo -v plugins` is not reset to False by this subparser's default
    p.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                   help="show tracebacks of broken plugins and failed checks")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """List plugins; with ``--check`` build and run each encoder. Returns the exit code."""
    verbose = bool(getattr(args, "verbose", False))
    registry = get_registry(refresh=True)  # this command is the one place that must see now
    report = describe(registry, verbose=verbose)
    if args.check:
        report["check"] = check(registry, verbose=verbose)
    if args.json:  # plain print: rich would wrap long lines and break machine readers
        print(dumps(report, indent=2, default=str))
    else:
        _print_tables(report, verbose)
    if not args.check:
        return 0
    failed = [c for c in report["check"] if not c["ok"]]
    return 1 if failed or report["broken"] else 0


def params(config_cls: type) -> dict[str, Any]:
    """The fields of a plugin's config dataclass with their defaults (JSON-friendly)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(config_cls):
        if f.default is not dataclasses.MISSING:
            value = f.default
        elif f.default_factory is not dataclasses.MISSING:
            value = f.default_factory()
        else:  # the registry rejects these; shown rather than hidden if one slips through
            value = None
        out[f.name] = list(value) if isinstance(value, tuple) else value
    return out


def _entry(item: Registered) -> dict[str, Any]:
    spec = item.spec
    return {"name": spec.name, "plugin": item.plugin, "package": item.package,
            "version": item.version, "description": _first_line(spec.description),
            "params": params(spec.config)}


def _first_line(text: str) -> str:
    lines = str(text or "").strip().splitlines()
    return lines[0] if lines else ""


def _one_line(text: str) -> str:
    """Errors keep every line (pluggy puts the useful part on the last), joined for a table."""
    return " / ".join(line.strip() for line in str(text or "").splitlines() if line.strip())


def describe(registry: Registry, verbose: bool = False) -> dict[str, Any]:
    """The registry as plain data: ``{"encoders": [...], "masks": [...], "broken": [...]}``."""
    broken = []
    for b in registry.broken:
        entry = {"plugin": b.plugin, "package": b.package, "version": b.version,
                 "error": _one_line(b.error)}
        if verbose and b.detail:
            entry["detail"] = b.detail
        broken.append(entry)
    return {
        "encoders": [_entry(registry.encoders[n]) for n in sorted(registry.encoders)],
        "masks": [_entry(registry.masks[n]) for n in sorted(registry.masks)],
        "broken": broken,
    }


def check(registry: Registry, verbose: bool = False) -> list[dict[str, Any]]:
    """Build each encoder into the default U-Net and run each mask generator once.

    Every result is ``{"kind", "name", "ok", "error", "seconds"}``; a failure in one plugin
    is recorded and the next one is still checked.
    """
    results = []
    for name in sorted(registry.encoders):
        results.append(_timed("encoder", name, _check_encoder, verbose))
    for name in sorted(registry.masks):
        results.append(_timed("mask", name, lambda n: _check_mask(registry, n), verbose))
    return results


def _timed(kind: str, name: str, fn: Any, verbose: bool) -> dict[str, Any]:
    import traceback

    start = time.perf_counter()
    result: dict[str, Any] = {"kind": kind, "name": name, "ok": True, "error": None}
    try:
        fn(name)
    except Exception as exc:  # report it and go on: --check is a survey, not a test run
        result.update(ok=False, error=_one_line(f"{type(exc).__name__}: {exc}"))
        if verbose:
            result["detail"] = "".join(traceback.format_exception(exc))
    result["seconds"] = round(time.perf_counter() - start, 3)
    return result


def _check_encoder(name: str) -> None:
    """Default config, eval mode, no grad: a (2,3,32,32) batch must come back the same shape."""
    import torch

    from zoo.config import TrainConfig
    from zoo.model import build_model

    model = build_model(TrainConfig(encoder=name)).eval()
    gen = torch.Generator().manual_seed(0)
    image = torch.rand(CHECK_SHAPE, generator=gen)
    mask = torch.zeros(CHECK_SHAPE[0], 1, *CHECK_SHAPE[2:])
    mask[:, :, 8:20, 8:20] = 1.0  # a square hole, as the paper's masks are
    with torch.no_grad():
        out = model(image * (1 - mask), mask)
    if tuple(out.shape) != CHECK_SHAPE:
        raise RuntimeError(f"output shape {tuple(out.shape)}, expected {CHECK_SHAPE}")
    if not torch.isfinite(out).all():
        raise RuntimeError("output has NaN or inf values")


def _check_mask(registry: Registry, name: str) -> None:
    """Default config: 2 masks of 32x32 must be (2, 1, 32, 32) and hold only 0 and 1."""
    import torch

    from zoo.registry import mask_config

    spec = registry.mask(name).spec
    n, _, h, w = CHECK_SHAPE
    masks = spec.generate(mask_config(name), n, h, w, torch.Generator().manual_seed(0), "cpu")
    if tuple(masks.shape) != (n, 1, h, w):
        raise RuntimeError(f"mask shape {tuple(masks.shape)}, expected {(n, 1, h, w)}")
    if not ((masks == 0) | (masks == 1)).all():
        raise RuntimeError("mask values must be 0 or 1")


def _fmt(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def _esc(text: Any) -> str:
    from rich.markup import escape

    return escape(str(text))  # plugin text may hold "[...]", which rich would eat as markup


def _print_tables(report: dict[str, Any], verbose: bool) -> None:
    from rich.table import Table

    from zoo.cli._console import console

    for key, title in (("encoders", "Fusion encoders"), ("masks", "Mask generators")):
        table = Table(title=title, title_justify="left")
        for col in ("name", "plugin", "package", "description", "params (defaults)"):
            table.add_column(col, overflow="fold")
        for e in report[key]:
            args = " ".join(f"{k}={_fmt(v)}" for k, v in e["params"].items()) or "-"
            table.add_row(f"[bold]{_esc(e['name'])}[/]", _esc(e["plugin"]),
                          _esc(f"{e['package']} {e['version']}"), _esc(e["description"]),
                          _esc(args))
        if not report[key]:
            table.add_row("[dim](none)[/]", "", "", "", "")
        console.print(table)
    if report["broken"]:
        table = Table(title="[bold red]Broken plugins[/]", title_justify="left",
                      border_style="red")
        for col in ("plugin", "package", "error"):
            table.add_column(col, overflow="fold")
        for b in report["broken"]:
            table.add_row(_esc(b["plugin"]), _esc(f"{b['package']} {b['version']}"),
                          f"[red]{_esc(b['error'])}[/]")
        console.print(table)
        for b in report["broken"] if verbose else []:
            if b.get("detail"):
                console.print(f"[red]{_esc(b['plugin'])}:[/]\n{_esc(b['detail'])}",
                              highlight=False)
        if not verbose:
            console.print("[dim]zoo -v plugins shows the tracebacks; ZOO_PLUGINS=a,b loads "
                          "only the named plugins[/]")
    if "check" in report:
        table = Table(title="Check", title_justify="left")
        for col in ("kind", "name", "result", "seconds"):
            table.add_column(col, overflow="fold")
        for c in report["check"]:
            result = "[green]ok[/]" if c["ok"] else f"[red]failed: {_esc(c['error'])}[/]"
            table.add_row(c["kind"], _esc(c["name"]), result, f"{c['seconds']:.2f}")
        console.print(table)
        for c in report["check"] if verbose else []:
            if c.get("detail"):
                console.print(f"[red]{c['kind']} {_esc(c['name'])}:[/]\n{_esc(c['detail'])}",
                              highlight=False)
