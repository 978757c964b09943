"""The plan `zoo tune --dry-run` prints: settings, fixed and searched options, the trials.

Kept apart from the live views so that a dry run never imports Ray.
"""

from __future__ import annotations

from typing import Any


def _cell(value: Any, width: int = 60) -> str:
    """A value as written (a plan must show 0.9995, not 1), cut when long."""
    text = str(value)
    return text if len(text) <= width else text[:width - 3] + "..."


def render_plan(spec: Any) -> Any:
    """A rich renderable of ``spec.plan()`` for ``zoo tune --dry-run``."""
    from rich.console import Group
    from rich.table import Table

    plan = spec.plan()
    settings = Table(title=f"search '{spec.name}' ({spec.path})", show_header=False)
    for key in ("description", "metric", "mode", "max_epochs", "num_samples", "seeds",
                "scheduler", "search", "resources", "max_failures", "max_concurrent"):
        value = plan[key]
        if isinstance(value, dict):  # {type: asha, grace_period: 1} -> asha (grace_period=1)
            rest = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                             for k, v in value.items() if k != "type")
            value = (f"{rest} per trial" if "type" not in value
                     else f"{value['type']} ({rest})" if rest else value["type"])
        if key == "max_concurrent" and value is None:
            value = "no cap"
        settings.add_row(key, _cell(value, 80))
    if plan["preset"]:
        settings.add_row("preset", f"{plan['preset']} (the lowest layer, under base)")
    settings.add_row("trials", f"[bold]{plan['n_trials']}[/]"
                     + ("" if plan["finite"] else " (values drawn when the search runs)"))
    fixed = Table(title="fixed for every trial (base)")
    fixed.add_column("option")
    fixed.add_column("value")
    for key, value in plan["base"].items():
        fixed.add_row(key, _cell(value))
    fixed.add_row("epochs", f"{spec.max_epochs} (max_epochs)")
    sampled = Table(title="searched (space)")
    for col in ("option", "kind", "values"):
        sampled.add_column(col)
    grids = spec.grids()
    for key, (kind, args) in spec.space.items():
        shown = kind if key not in grids or kind == "grid" else f"{kind} (as grid)"
        sampled.add_row(key, shown, _cell(args, 80))
    sampled.add_row("seed", "grid" if len(spec.seeds) > 1 else "fixed", _cell(spec.seeds))
    parts: list[Any] = [settings, fixed, sampled]
    if "points" in plan:
        trials = Table(title=f"the {len(plan['points'])} trials, in Tune's order")
        trials.add_column("#", justify="right")
        keys = [*spec.space, "seed"]
        for key in keys:
            trials.add_column(key)
        for i, point in enumerate(plan["points"]):
            trials.add_row(str(i), *(_cell(point[k]) for k in keys))
        parts.append(trials)
    return Group(*parts)
