"""How `zoo tune` shows a running search: a rich live table, or one line per trial event
(Tune callbacks that the CLI hands to ``zoo.tune.runner.run_search``)."""

from __future__ import annotations

from typing import Any

from ray.tune import Callback
from rich.live import Live
from rich.table import Table

from zoo.tune._store import ended_status, trial_error, trial_name

STYLE = {"running": "cyan", "completed": "green", "failed": "red", "stopped": "yellow",
         "pending": "dim", "interrupted": "magenta"}


class LiveView(Callback):
    """Shows one row per trial: status, sampled values, epoch, validation metric.

    The table is redrawn on trial events only (no timer), so a terminal recorder or a log
    gets one frame per event, never a flood."""

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
            tid = trial_name(self.spec.name, tid)
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
            self.live = Live(self._render(), console=self.console, auto_refresh=False,
                             transient=False)
            self.live.start()
        self.live.update(self._render(), refresh=True)

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._update(trial, "running")

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict,
                        **info: Any) -> None:
        self._update(trial, "running")

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._update(trial, ended_status(trial)[0])

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._update(trial, "failed")

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        self.stop()

    def stop(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None


def _short(value: Any, width: int = 60) -> str:
    """A table cell: floats to 3 significant digits, None as '-', long values cut."""
    if isinstance(value, float):
        return f"{value:.3g}"
    text = "-" if value is None else str(value)
    return text if len(text) <= width else text[:width - 3] + "..."


class EventLines(Callback):
    """One line per trial event (start, epoch result, stop, failure) for ``--no-live`` and
    output that is not a terminal; ``emit`` takes each line (the CLI prints it)."""

    def __init__(self, spec: Any, emit: Any) -> None:
        self.spec, self.emit = spec, emit

    def __getstate__(self) -> dict[str, Any]:
        return {"spec": self.spec, "emit": None}

    def _name(self, trial: Any) -> str:
        return trial_name(self.spec.name, trial.trial_id)

    def _say(self, line: str) -> None:
        if self.emit is not None:
            self.emit(line)

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        sampled = " ".join(f"{k}={_short(trial.config.get(k))}" for k in [*self.spec.space, "seed"]
                           if k in trial.config)
        self._say(f"{self._name(trial)} started  {sampled}".rstrip())

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict,
                        **info: Any) -> None:
        if result.get("diverged") or result.get("final"):
            return  # said by on_trial_complete
        metric = result.get(self.spec.metric)
        value = "-" if metric is None else f"{metric:.3f}"
        self._say(f"{self._name(trial)} epoch {result.get('epoch', '?')}/{self.spec.max_epochs}"
                  f"  {self.spec.metric} {value}")

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        status, error = ended_status(trial)
        last = trial.last_result or {}
        if status == "completed":
            test = last.get("psnr_hole")
            detail = f"test psnr_hole {test:.2f}" if isinstance(test, float) else ""
            line = f"{self._name(trial)} completed  epoch {last.get('epoch')}  {detail}"
            self._say(line.rstrip())
        elif status == "stopped":
            self._say(f"{self._name(trial)} stopped by the scheduler after epoch "
                      f"{last.get('epoch', '?')}")
        else:
            self._say(f"{self._name(trial)} {status}: {error}")

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._say(f"{self._name(trial)} failed: {trial_error(trial)}")
