"""A rich live table of a search's trials, driven by Tune's callback events."""

from __future__ import annotations

from typing import Any

from ray.tune import Callback
from rich.live import Live
from rich.table import Table

STYLE = {"running": "cyan", "completed": "green", "failed": "red", "stopped": "yellow",
         "pending": "dim"}


class LiveView(Callback):
    """Shows one row per trial: status, sampled values, epoch, validation metric."""

    def __init__(self, spec: Any, console: Any) -> None:
        self.spec, self.console = spec, console
        self.rows: dict[str, dict[str, Any]] = {}
        self.live: Live | None = None

    def __getstate__(self) -> dict[str, Any]:  # Tune pickles callbacks; consoles can't be
        return {"spec": self.spec, "console": None, "rows": {}, "live": None}

    def _render(self) -> Table:
        keys = list(self.spec.space)
        table = Table(title=f"zoo tune: {self.spec.name}  (metric {self.spec.metric}, "
                            f"{self.spec.mode})", expand=False)
        for col in ("trial", "status", *keys, "seed", "epoch", self.spec.metric, "test PSNR hole"):
            table.add_column(col, justify="right" if col not in ("trial", "status") else "left")
        for tid, row in self.rows.items():
            status = row["status"]
            metric = row.get(self.spec.metric)
            test = row.get("psnr_hole")
            table.add_row(tid, f"[{STYLE.get(status, 'white')}]{status}[/]",
                          *(_short(row["config"].get(k)) for k in keys),
                          _short(row["config"].get("seed")), str(row.get("epoch", "-")),
                          "-" if metric is None else f"{metric:.3f}",
                          "-" if test is None else f"{test:.2f}")
        return table

    def _update(self, trial: Any, status: str) -> None:
        if self.console is None:
            return
        row = self.rows.setdefault(trial.trial_id, {"config": trial.config})
        row.update(status=status, **{k: v for k, v in (trial.last_result or {}).items()
                                     if isinstance(v, (int, float))})
        if self.live is None:
            self.live = Live(self._render(), console=self.console, refresh_per_second=2,
                             transient=False)
            self.live.start()
        self.live.update(self._render())

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._update(trial, "running")

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict,
                        **info: Any) -> None:
        self._update(trial, "running")

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        from zoo.tune.runner import _status_and_error

        self._update(trial, _status_and_error(trial)[0])

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._update(trial, "failed")

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        self.stop()

    def stop(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return "-" if value is None else str(value)
