"""The live table is drawn once per trial event (no timer: a recorded terminal gets no
flood), and without a terminal each event is one line."""

from __future__ import annotations

import io
import time
from types import SimpleNamespace

from rich.console import Console

from zoo.cli._search_view import EventLines, LiveView
from zoo.tune.space import SearchSpec


def _spec() -> SearchSpec:
    return SearchSpec(name="quick", path="quick.yaml", max_epochs=3,
                      space={"lr": ("loguniform", [1e-4, 1e-2])})


def _trial(n: int, **result) -> SimpleNamespace:
    return SimpleNamespace(trial_id=f"abcde_{n:05d}", config={"lr": 0.001, "seed": 0},
                           last_result=result, error_file=None)


def test_live_table_redraws_only_on_events() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120)
    view = LiveView(_spec(), console)
    view.on_trial_start(0, [], _trial(0))
    view.on_trial_result(0, [], _trial(0, epoch=1, val_psnr_hole=16.5), {})
    time.sleep(1.5)  # a timer would redraw here (rich's default is 4 frames a second)
    view.on_trial_complete(0, [], _trial(0, epoch=3, final=True, psnr_hole=17.2))
    view.stop()
    frames = out.getvalue().count("zoo tune: quick")
    assert 3 <= frames <= 4, frames  # one per event (+ the final frame on stop)
    assert "quick-1" in out.getvalue()


def test_event_lines() -> None:
    lines: list[str] = []
    view = EventLines(_spec(), lines.append)
    view.on_trial_start(0, [], _trial(0))
    view.on_trial_result(0, [], _trial(0), {"epoch": 1, "val_psnr_hole": 16.5})
    view.on_trial_complete(0, [], _trial(0, epoch=1, val_psnr_hole=16.5))
    view.on_trial_complete(0, [], _trial(1, epoch=3, final=True, psnr_hole=17.25))
    view.on_trial_complete(0, [], _trial(2, diverged=True, error="loss became nan"))
    view.on_trial_error(0, [], _trial(3))
    assert lines == [
        "quick-1 started  lr=0.001 seed=0",
        "quick-1 epoch 1/3  val_psnr_hole 16.500",
        "quick-1 stopped by the scheduler after epoch 1",
        "quick-2 completed  epoch 3  test psnr_hole 17.25",
        "quick-3 failed: loss became nan",
        "quick-4 failed: trial failed",
    ]
