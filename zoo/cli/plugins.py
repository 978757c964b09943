"""`zoo plugins`: what is installed, where it came from, (``--check``) whether it keeps the
contract, and (``new``) a fresh plugin package.

A broken plugin never takes this command down: it is listed with its error so the user
can see which package to fix. Only ``--check`` turns problems into a non-zero exit code,
and its last line says why.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import time
from typing import Any

from zoo._json import dumps
from zoo.plugin.kinds import KINDS
from zoo.plugin.registry import Registered, Registry, get_registry


def add_parser(sub: Any, name: str) -> None:
    """Register the `plugins` subcommand (and `plugins new`)."""
    p = sub.add_parser(
        name, help="list encoder, mask and loss plugins, check them, or start a new one",
        description="List installed fusion encoders, mask generators and loss terms with "
                    "their source package, version and parameters. Broken plugins are listed "
                    "with their error. `zoo plugins new NAME` writes a new plugin package.")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    p.add_argument("--check", nargs="*", metavar="NAME", default=None,
                   help="run the plugin contract (zoo.contract) on every encoder, mask and "
                        "loss, or only those of the plugins or names given; exit 1 if any "
                        "fails or any (named) plugin is broken")
    # SUPPRESS so that `zoo -v plugins` is not reset to False by this subparser's default
    p.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                   help="show tracebacks of broken plugins and failed checks")
    p.set_defaults(func=run)
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    new = actions.add_parser("new", help="write a new plugin package that passes the kit",
                             description="Write zoo-NAME/: a pyproject with the entry point, "
                                         "one module with an encoder, a mask and a loss term, "
                                         "a README and a test that runs zoo's test kit.")
    new.add_argument("plugin_name", metavar="NAME", help="plugin name: lowercase letters, "
                     "digits and _, starting with a letter (e.g. gatedconv)")
    new.add_argument("--dir", default=".", help="where to create zoo-NAME/ (default: here)")
    new.set_defaults(func=run_new)


def run_new(args: argparse.Namespace) -> int:
    """`zoo plugins new NAME`: write the package and say what to do next."""
    from zoo._scaffold import write_plugin
    from zoo.cli._console import console, escape

    root = escape(write_plugin(args.plugin_name, args.dir), one_line=True)
    console.print(f"wrote {root}/ (plugin [bold]{args.plugin_name}[/]). Next:\n"
                  f"  pip install -e '{root}\\[test]'     # \\[test]: pytest, for the kit\n"
                  f"  zoo plugins --check {args.plugin_name}\n"
                  f"  cd {root} && python -m pytest -q     # the whole contract, via zoo.testing",
                  highlight=False, soft_wrap=True)
    return 0


def run(args: argparse.Namespace) -> int:
    """List plugins; with ``--check`` run the contract on them. Returns the exit code."""
    verbose = bool(getattr(args, "verbose", False))
    registry = get_registry(refresh=True)  # this command is the one place that must see now
    report = describe(registry, verbose=verbose)
    checking = args.check is not None
    if checking:
        report["check"] = check(registry, args.check or None, verbose=verbose)
        report["summary"] = summarize(report["check"], registry, args.check or None)
    if args.json:  # plain print: rich would wrap long lines and break machine readers
        print(dumps(report, indent=2, default=str))
    else:
        _print_tables(report, verbose)
    if not checking:
        return 0
    return 0 if report["summary"]["ok"] else 1


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
    """The registry as plain data: ``{"encoders", "masks", "losses", "broken"}``, lists."""
    broken = []
    for b in registry.broken:
        entry = {"plugin": b.plugin, "package": b.package, "version": b.version,
                 "error": _one_line(b.error)}
        if verbose and b.detail:
            entry["detail"] = b.detail
        broken.append(entry)
    found = registry.items()
    tables = {kind.plural: [_entry(item) for k, _, item in found if k == kind.name]
              for kind in KINDS}
    return {**tables, "broken": broken, "warnings": list(registry.warnings)}


def _selected(registry: Registry, names: list[str] | None) -> set[str] | None:
    """Plugins named (by plugin name or by a name they register); ZooError for others."""
    if not names:
        return None
    from zoo.errors import unknown

    known = {n: item.plugin for _, n, item in registry.items()}
    plugins = set(registry.plugins) | {b.plugin for b in registry.broken}
    chosen = set()
    for name in names:
        if name in plugins:
            chosen.add(name)
        elif name in known:
            chosen.add(known[name])
        else:
            raise unknown("plugin or plugin item", name, plugins | set(known))
    return chosen


def check(registry: Registry, names: list[str] | None = None,
          verbose: bool = False) -> list[dict[str, Any]]:
    """The contract (``zoo.plugin.contract``) on each encoder, mask and loss, with its defaults
    (only those of the plugins, or registered names, in ``names`` when given).

    Every result is ``{"kind", "name", "plugin", "package", "ok", "error", "seconds"}``; a
    failure in one plugin is recorded and the next one is still checked.
    """
    from zoo.plugin.kinds import check as run_contract

    results = []
    for kind, name, item in registry.items(_selected(registry, names)):
        results.append(_timed(kind, name, item, verbose,
                              lambda k=kind, n=name: run_contract(k, n, registry=registry)))
    return results


def summarize(results: list[dict[str, Any]], registry: Registry,
              names: list[str] | None = None) -> dict[str, Any]:
    """Counts, the exit status and the one line that gives the reason for it."""
    chosen = _selected(registry, names)
    broken = [b.plugin for b in registry.broken if chosen is None or b.plugin in chosen]
    failed = [f"{c['kind']} '{c['name']}'" for c in results if not c["ok"]]
    passed = len(results) - len(failed)
    reasons = []
    if failed:
        reasons.append(f"{len(failed)} failed the contract ({', '.join(failed)})")
    if broken:
        reasons.append(f"{len(broken)} plugin{'s' if len(broken) > 1 else ''} broken "
                       f"({', '.join(broken)}; see the Broken plugins table)")
    if not results and not broken:
        reasons.append("nothing to check: no encoder, mask or loss registered")
    ok = not failed and not broken and bool(results)
    line = (f"{passed} of {len(results)} passed the contract"
            + ("; exit 0" if ok else f"; exit 1: {'; '.join(reasons)}"))
    return {"ok": ok, "passed": passed, "failed": len(failed), "broken": broken, "line": line}


def _timed(kind: str, name: str, item: Registered, verbose: bool, fn: Any) -> dict[str, Any]:
    import traceback

    start = time.perf_counter()
    result: dict[str, Any] = {"kind": kind, "name": name, "plugin": item.plugin,
                              "package": f"{item.package} {item.version}", "ok": True,
                              "error": None}
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # a printing plugin keeps --json JSON
            fn()
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # report it and go on: --check is a survey, not a test run
        from zoo.errors import ZooError

        text = str(exc) if isinstance(exc, ZooError) else f"{type(exc).__name__}: {exc}"
        result.update(ok=False, error=_one_line(text))
        if verbose:
            result["detail"] = "".join(traceback.format_exception(exc))
    result["seconds"] = round(time.perf_counter() - start, 3)
    return result


def _fmt(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def _print_tables(report: dict[str, Any], verbose: bool) -> None:
    from functools import partial

    from rich.table import Table

    from zoo.cli._console import console, escape

    # plugin text may hold "[...]", which rich would eat as markup, and control characters
    cell = partial(escape, one_line=True)
    for key, title in ((kind.plural, kind.title) for kind in KINDS):
        table = Table(title=title, title_justify="left")
        for col in ("name", "plugin", "package", "description", "params (defaults)"):
            table.add_column(col, overflow="fold")
        for e in report[key]:
            args = " ".join(f"{k}={_fmt(v)}" for k, v in e["params"].items()) or "-"
            table.add_row(f"[bold]{cell(e['name'])}[/]", cell(e["plugin"]),
                          cell(f"{e['package']} {e['version']}"), cell(e["description"]),
                          cell(args))
        if not report[key]:
            table.add_row("[dim](none)[/]", "", "", "", "")
        console.print(table)
    if report["broken"]:
        table = Table(title="[bold red]Broken plugins[/]", title_justify="left",
                      border_style="red")
        for col in ("plugin", "package", "error"):
            table.add_column(col, overflow="fold")
        for b in report["broken"]:
            table.add_row(cell(b["plugin"]), cell(f"{b['package']} {b['version']}"),
                          f"[red]{cell(b['error'])}[/]")
        console.print(table)
        for b in report["broken"] if verbose else []:
            if b.get("detail"):
                console.print(f"[red]{cell(b['plugin'])}:[/]\n{escape(b['detail'])}",
                              highlight=False)
        if not verbose:
            console.print("[dim]zoo -v plugins shows the tracebacks; ZOO_PLUGINS=a,b loads "
                          "only the named plugins[/]")
    for warning in report["warnings"]:
        console.print(f"[yellow]warning: {cell(warning)}[/]", highlight=False)
    if "check" in report:
        table = Table(title="Check", title_justify="left")
        for col in ("kind", "name", "result", "seconds"):
            table.add_column(col, overflow="fold")
        for c in report["check"]:
            result = "[green]ok[/]" if c["ok"] else f"[red]failed: {cell(c['error'])}[/]"
            table.add_row(c["kind"], cell(c["name"]), result, f"{c['seconds']:.2f}")
        console.print(table)
        for c in report["check"] if verbose else []:
            if c.get("detail"):
                console.print(f"[red]{c['kind']} {cell(c['name'])}:[/]\n{escape(c['detail'])}",
                              highlight=False)
        summary = report["summary"]
        console.print(("[green]" if summary["ok"] else "[bold red]") + cell(summary["line"])
                      + "[/]", highlight=False)
