"""What the ``zoo tune`` driver records while a search runs, and what it ends with: the
Tune callbacks that write leaderboard rows and keep the seal of Ray's state current, and
the :class:`SearchOutcome` read back from the leaderboard.

The driver builds no TrainConfig: a row keeps the ``config.to_dict()`` its trial reported
(``zoo.tune._store.TRAINED_KEY``), or, until the trial reports one, the settings it was
sampled with (:meth:`zoo.tune.space.SearchSpec.sampled`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ray.tune import Callback

from zoo.errors import ZooError
from zoo.tune._store import TRAINED_KEY, ended_status, trial_error, trial_name

log = logging.getLogger(__name__)


class LeaderboardWriter(Callback):
    """Writes one leaderboard row per trial as it starts and ends; upserts keyed by
    (search, trial id) keep re-runs and resumes free of duplicates. Trial ids are the
    readable ``SEARCH-N`` of :func:`zoo.tune._store.trial_name`."""

    def __init__(self, spec: Any, db_path: Path) -> None:
        self.spec, self.db_path, self._board = spec, Path(db_path), None
        self.failed_writes: list[str] = []
        self._reported: set[str] = set()  # trials whose row has the config they reported

    def __getstate__(self) -> dict[str, Any]:  # Tune pickles its run config; sqlite can't be
        return {**self.__dict__, "_board": None}

    @property
    def board(self) -> Any:
        from zoo.leaderboard.db import Leaderboard

        if self._board is None:
            self._board = Leaderboard(self.db_path)
        return self._board

    def name(self, trial: Any) -> str:
        return trial_name(self.spec.name, trial.trial_id)

    def _write(self, trial: Any, status: str, error: str | None) -> None:
        from zoo.modelfolder.checkpoint import CHECKPOINT_NAME
        from zoo.tune._store import record_folder_scores, trial_result

        saved = trial.checkpoint.path if trial.checkpoint is not None else None
        result = trial_result(trial.last_result, saved, self.spec.sampled(trial.config),
                              CHECKPOINT_NAME)
        # (the row's baselines and eval_id also record the reference rows)
        self.board.record_trial(self.spec.name, self.name(trial), status, result,
                                result["config"], error=error)
        if status == "completed":
            record_folder_scores(self.board, self.spec.name, self.name(trial), saved)

    def _safely(self, write: Any, trial: Any) -> None:
        # An exception in a Tune callback aborts the whole search: a leaderboard that is
        # locked or full must cost one row (counted, and the search then exits non-zero),
        # not every running trial. The file was checked before the search started.
        try:
            write()
        except Exception as exc:  # noqa: BLE001
            self.failed_writes.append(f"{self.name(trial)}: {exc}")
            log.error("could not record trial %s in %s: %s", self.name(trial), self.db_path, exc)

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._safely(lambda: self.board.record_trial(
            self.spec.name, self.name(trial), "running", None,
            self.spec.sampled(trial.config)), trial)

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict,
                        **info: Any) -> None:
        """The first report of a trial puts the config it trains on its running row."""
        if trial.trial_id in self._reported or not isinstance(result.get(TRAINED_KEY), dict):
            return
        self._reported.add(trial.trial_id)
        self._safely(lambda: self.board.record_trial(
            self.spec.name, self.name(trial), "running", None, result[TRAINED_KEY],
            config_hash=result.get("config_hash")), trial)

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._safely(lambda: self._write(trial, *ended_status(trial)), trial)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._safely(lambda: self._write(trial, "failed", trial_error(trial)), trial)


class SealState(Callback):
    """Keeps the seal of Ray's state in the search record current after each step that
    saved state (:class:`zoo.tune._guard.Sealer`), so a search killed hard still resumes."""

    def __init__(self, exp_dir: Path) -> None:
        from zoo.tune._guard import Sealer

        self.sealer = Sealer(exp_dir)

    def refresh(self, force: bool = False) -> None:
        try:
            self.sealer.refresh(force)
        except (OSError, ZooError) as exc:  # a callback's exception would abort the search
            log.error("could not seal the search state in %s: %s", self.sealer.exp_dir, exc)

    def on_step_end(self, iteration: int, trials: list, **info: Any) -> None:
        self.refresh()


@dataclass
class SearchOutcome:
    """What a search ended with: its leaderboard rows and a count per status."""

    name: str
    storage: str
    db_path: Path
    grid: Any  # Tune's ResultGrid
    rows: list[dict[str, Any]]
    counts: dict[str, int]  # leaderboard status -> trials; "not started" for pending ones
    interrupted: bool
    unrecorded: list[str] = field(default_factory=list)  # rows the leaderboard refused

    def __iter__(self) -> Any:  # iterates Tune's results, as the ResultGrid it wraps
        return iter(self.grid if self.grid is not None else ())

    def __len__(self) -> int:
        return len(self.grid) if self.grid is not None else 0

    @property
    def failed(self) -> int:
        return self.counts.get("failed", 0)

    @property
    def exit_code(self) -> int:
        """0: every trial completed or was stopped by the scheduler; 130: interrupted;
        1: a trial failed (or diverged) or a row could not be recorded."""
        if self.interrupted:
            return 130
        return 1 if self.failed or self.unrecorded else 0


def outcome(spec: Any, storage: str, db_path: Path, board: Any, grid: Any, marked: bool,
            unrecorded: list[str]) -> SearchOutcome:
    """The search's rows read back from the leaderboard, counted per status."""
    rows = board.trials(search=spec.name, sort="created_at", descending=False)
    counts: dict[str, int] = {}
    for status in ("completed", "stopped", "failed", "interrupted", "running"):
        n = sum(1 for row in rows if row["status"] == status)
        if n:
            counts[status] = n
    # Tune creates trials as it starts them (one at a time under a cap): those never
    # created are counted from the spec, not from Tune's grid
    pending = max(0, spec.n_trials() - len(rows))
    if pending:
        counts["not started"] = pending
    return SearchOutcome(name=spec.name, storage=storage, db_path=db_path, grid=grid,
                         rows=rows, counts=counts, interrupted=bool(marked or pending),
                         unrecorded=list(unrecorded))
