"""What ``zoo tune`` keeps beside Tune's results, without importing Ray: the search record
(``STORAGE/NAME/zoo_search.json``, the validated settings a ``--resume`` must keep), the
readable trial names, and the rebuild of leaderboard rows from Tune's stored trials.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from zoo._json import to_jsonable
from zoo.errors import ZooError

SEARCH_FILE = "zoo_search.json"
# the key of a trial's reports that carries its TrainConfig.to_dict() (Tune's own "config"
# holds the sampled values)
TRAINED_KEY = "train_config"
RECORD_VERSION = 1
# the SearchSpec fields a search record keeps; every one of them is fixed for --resume
RECORD_FIELDS = ("name", "path", "description", "metric", "mode", "max_epochs", "num_samples",
                 "seeds", "scheduler", "search", "resources", "max_failures", "max_concurrent",
                 "preset", "preset_values", "base", "space")
# how --resume may be run differently; everything else in RECORD_FIELDS is refused
RESUME_MAY_CHANGE = ("--address", "--db", "--no-live", "--json", "--trust-state")
# the names of the settings in messages (the flag that sets them, when there is one)
_FLAG = {"max_epochs": "--max-epochs", "num_samples": "--num-samples",
         "max_concurrent": "--max-concurrent", "resources": "--cpus/--gpus", "name": "--name"}


def trial_name(search: str, trial_id: str) -> str:
    """A readable trial id, unique within its search: ``quick-1``, ``quick-2``, ... from
    Tune's ``abcde_00000``, ``abcde_00001``, ... (the counter Tune keeps per search)."""
    head, _, counter = str(trial_id).rpartition("_")
    if head and counter.isdigit():
        return f"{search}-{int(counter) + 1}"
    return f"{search}-{trial_id}"


def trial_dirname(search: str, trial: Any) -> str:
    """Tune's trial folder name: the readable trial id (``functools.partial`` of this is
    picklable, as Tune needs)."""
    return trial_name(search, trial.trial_id)


# -- the search record -------------------------------------------------------------------


def spec_record(spec: Any) -> dict[str, Any]:
    """The JSON-safe record of a validated SearchSpec."""
    out = {k: to_jsonable(getattr(spec, k)) for k in RECORD_FIELDS if k != "space"}
    out["space"] = {k: {kind: to_jsonable(args)} for k, (kind, args) in spec.space.items()}
    if out["preset"] is None:  # the records of searches without one stay as they were
        del out["preset"]
        out.pop("preset_values", None)
    out["record_version"] = RECORD_VERSION
    return json.loads(json.dumps(out, sort_keys=True))


def spec_from_record(record: dict[str, Any]) -> Any:
    """Rebuild the SearchSpec a record was made from (no validation: it was validated)."""
    from zoo.tune.space import SearchSpec

    data = {k: record[k] for k in RECORD_FIELDS if k in record and k != "space"}
    spec = SearchSpec(**data)
    spec.space = {k: next(iter(v.items())) for k, v in (record.get("space") or {}).items()}
    return spec


def write_record(exp_dir: Path, spec: Any) -> Path:
    """Write the search record atomically (:mod:`zoo._atomic`: a link there is refused,
    never followed)."""
    exp_dir.mkdir(parents=True, exist_ok=True)
    return replace_record(exp_dir / SEARCH_FILE, spec_record(spec))


def replace_record(target: Path, record: dict[str, Any]) -> Path:
    """Write ``record`` to ``target`` atomically (:func:`zoo._atomic.write_text`)."""
    from zoo._atomic import write_text

    return write_text(target, json.dumps(record, indent=2, sort_keys=True))


def read_record(exp_dir: Path) -> dict[str, Any] | None:
    path = exp_dir / SEARCH_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ZooError(f"{path} is unreadable ({exc}); it records the search's settings: "
                       "restore it, or start another search with --name NEW") from None


def check_resume(spec: Any, stored: dict[str, Any], exp_dir: Path | None = None) -> None:
    """Refuse a ``--resume`` whose settings differ from the stored search, naming the first
    setting that changed. A record from before presets were recorded is checked against
    the configs its trials under ``exp_dir`` trained (:func:`check_trained_preset`)."""
    now = spec_record(spec)
    for key in RECORD_FIELDS:
        if key in ("path", "description"):
            continue  # the file may be run from another folder; a comment is no setting
        if key == "preset_values":
            if "preset_values" in stored and stored["preset_values"] != now.get(key):
                raise ZooError(
                    f"--resume cannot continue search '{spec.name}': the preset "
                    f"'{spec.preset}' has changed since it started (zoo was upgraded or "
                    f"edited), so its remaining trials would train another recipe; start "
                    f"another search with --name NEW, or resume with the zoo it began with")
            continue  # a record from before presets were recorded: see the end
        old, new = stored.get(key), now.get(key)
        if key in ("base", "space"):
            for sub in sorted(set(old or {}) | set(new or {})):
                a, b = (old or {}).get(sub, "(unset)"), (new or {}).get(sub, "(unset)")
                if a != b:
                    where = f"{sub}" if key == "base" else f"space.{sub}"
                    _refuse(where, a, b, spec.name)
        elif old != new:
            _refuse(_FLAG.get(key, key), old, new, spec.name)
    if spec.preset and "preset_values" not in stored and exp_dir is not None:
        check_trained_preset(spec, exp_dir)


def check_trained_preset(spec: Any, exp_dir: Path) -> None:
    """For a search whose record names its preset but not the preset's values: refuse the
    resume when a trial already trained the preset differently from how zoo has it now
    (zoo was upgraded or edited since), naming the first setting that changed. Its
    remaining trials would otherwise train another recipe beside the finished ones."""
    values = spec.preset_layer() or {}
    for trial_dir in sorted(p for p in Path(exp_dir).iterdir() if p.is_dir()):
        try:
            first = _line_json(trial_dir / "result.json", last=False)
        except (OSError, ValueError):
            continue  # an unreadable report says nothing about the recipe; rebuild warns
        trained = first.get(TRAINED_KEY) if isinstance(first, dict) else None
        if not isinstance(trained, dict) or not isinstance(first.get("config"), dict):
            continue
        try:
            now = spec.trial_config(first["config"]).to_dict()
        except ZooError:
            continue  # a point that no longer builds: check_resume's own checks name it
        changed = _first_difference(values, now, trained)
        if changed:
            key, was, is_now = changed
            raise ZooError(
                f"--resume cannot continue search '{spec.name}': its trial {trial_dir.name} "
                f"trained the preset '{spec.preset}' with {key}={json.dumps(was)}, and zoo's "
                f"'{spec.preset}' now has {key}={json.dumps(is_now)} (zoo was upgraded or "
                f"edited since the search began), so its remaining trials would train "
                f"another recipe; start another search with --name NEW")


def _first_difference(keys: dict[str, Any], now: dict[str, Any], then: dict[str, Any]
                      ) -> tuple[str, Any, Any] | None:
    """The first of ``keys``' settings (dotted, as :func:`zoo._dicts.flatten` gives them)
    whose value in ``now`` and ``then`` differs: (dotted key, then's value, now's value)."""
    from zoo._dicts import flatten

    now, then = flatten(now), flatten(then)
    for key in sorted(flatten(keys)):
        if to_jsonable(now.get(key)) != to_jsonable(then.get(key)):
            return key, then.get(key), now.get(key)
    return None


def _refuse(what: str, old: Any, new: Any, name: str) -> None:
    show = lambda v: json.dumps(v, sort_keys=True) if not isinstance(v, str) else v  # noqa: E731
    raise ZooError(
        f"--resume cannot change {what} (the search ran with {show(old)}, now {show(new)}); "
        f"resume with the same file and flags, or start another search with --name NEW "
        f"(only {', '.join(RESUME_MAY_CHANGE)} may differ on --resume)")


# -- leaderboard rows from Tune's files ----------------------------------------------------


def trial_result(last: dict[str, Any] | None, checkpoint_dir: str | None,
                 config: dict[str, Any], checkpoint_name: str) -> dict[str, Any]:
    """The result dict a leaderboard row is made from: Tune's last result, the checkpoint in
    storage (the file, or the folder when it holds no such file) and its pictures, and
    the config the trial reported it trained (``config``, what it was sampled with, when
    it reported none)."""
    result = dict(last or {})
    trained = result.pop(TRAINED_KEY, None)
    if checkpoint_dir:
        saved = Path(checkpoint_dir) if "://" not in checkpoint_dir else None
        if saved is not None:
            inner = saved / checkpoint_name
            result["checkpoint"] = str(inner if inner.exists() else saved)
            for key, name in (("grid_png", "grid.png"), ("curves_png", "curves.png")):
                result[key] = str(saved / name) if (saved / name).exists() else None
        else:
            result["checkpoint"] = f"{checkpoint_dir.rstrip('/')}/{checkpoint_name}"
    else:  # the paths of the trial's private folder are gone with it
        for key in ("checkpoint", "grid_png", "curves_png"):
            result.pop(key, None)
    # (Tune puts the sampled values under "config": the row keeps the trained config)
    result["config"] = trained if isinstance(trained, dict) else config
    return result


def status_of(last: dict[str, Any] | None, tune_status: str | None) -> tuple[str, str | None]:
    """(leaderboard status, error) from a trial's last result and Tune's status."""
    last = last or {}
    if last.get("diverged"):
        return "failed", last.get("error") or "training diverged"
    if last.get("final"):
        return "completed", None
    if tune_status == "ERROR":
        return "failed", "trial failed"
    if tune_status == "TERMINATED":
        return "stopped", "stopped early by the scheduler"
    return "interrupted", "the search was interrupted; `zoo tune SPACE --resume` continues it"


def ended_status(trial: Any) -> tuple[str, str | None]:
    """(leaderboard status, error) of a Tune trial that ended without an error."""
    return status_of(trial.last_result, "TERMINATED")


def trial_error(trial: Any) -> str:
    """The last line of a failed Tune trial's error file (its exception)."""
    path = trial.error_file
    if path and os.path.exists(path):
        lines = [ln for ln in Path(path).read_text().splitlines() if ln.strip()]
        return lines[-1][:500] if lines else "trial failed"
    return "trial failed"


def _line_json(path: Path, *, last: bool) -> dict[str, Any] | None:
    """The first (or last) non-blank line of a JSON-lines file, parsed; None without one."""
    if not path.is_file():
        return None
    found = None
    with path.open() as f:
        for line in f:
            if line.strip():
                found = line
                if not last:
                    break
    return json.loads(found) if found else None


def _error_text(trial_dir: Path) -> str | None:
    path = trial_dir / "error.txt"
    if not path.is_file():
        return None
    lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    return lines[-1][:500] if lines else None


def _tune_states(exp_dir: Path) -> dict[str, dict[str, Any]]:
    """Tune's saved trial states of the newest experiment_state file, by trial folder."""
    files = sorted(exp_dir.glob("experiment_state-*.json"), key=lambda p: p.stat().st_mtime)
    if not files:
        return {}
    data = json.loads(files[-1].read_text())
    out = {}
    for item in data.get("trial_data", []):
        state = item[0] if isinstance(item, (list, tuple)) else item
        state = json.loads(state) if isinstance(state, str) else state
        folder = state.get("relative_logdir")
        if folder:
            out[str(folder)] = state
    return out


def searches_in(storage: Path) -> list[Path]:
    """The zoo searches (folders with a search record) in a local storage folder."""
    if not storage.is_dir():
        return []
    return sorted(p for p in storage.iterdir() if (p / SEARCH_FILE).is_file())


def record_folder_scores(board: Any, search: str, name: str, checkpoint_dir: str | None
                         ) -> None:
    """Copy a trial's per-image scores (its checkpoint's ``scores.safetensors``) into the
    leaderboard, with its references'. Nothing happens for a remote or score-less folder."""
    from zoo.leaderboard.scores import record_scores
    from zoo.scores import read_scores

    if not checkpoint_dir or "://" in checkpoint_dir:
        return
    scores = read_scores(checkpoint_dir)
    if scores is not None:
        record_scores(board, search, name, scores)


def rebuild(storage: Path, board: Any, search: str | None = None,
            checkpoint_name: str | None = None) -> dict[str, int]:
    """Refill ``board`` with every trial Tune stored under ``storage`` (or of ``search``),
    each row as the search wrote it (``checkpoint_name``: the weights file a checkpoint
    folder holds, :data:`zoo.modelfolder.checkpoint.CHECKPOINT_NAME` unless given).

    A ``completed`` row already there is kept as it is. Returns the rows written per search.
    """
    if checkpoint_name is None:
        from zoo.modelfolder.checkpoint import CHECKPOINT_NAME as checkpoint_name
    written: dict[str, int] = {}
    for exp_dir in searches_in(storage):
        record = read_record(exp_dir)
        spec = spec_from_record(record)
        if search is not None and spec.name != search:
            continue
        # rows already complete stay as they are (not even their time stamp changes)
        done = {r["trial_id"] for r in board.trials(search=spec.name, status="completed")}
        states = _tune_states(exp_dir)
        folders = sorted({*states, *(p.name for p in exp_dir.iterdir()
                                     if p.is_dir() and (p / "params.json").is_file())})
        count = 0
        for folder in folders:
            trial_dir, state = exp_dir / folder, states.get(folder, {})
            params_file = trial_dir / "params.json"
            if not params_file.is_file():
                continue  # never started: no row, as in the search itself
            params = json.loads(params_file.read_text())
            last = _line_json(trial_dir / "result.json", last=True)
            status, error = status_of(last, state.get("status"))
            if status == "failed" and not (last or {}).get("diverged"):
                error = _error_text(trial_dir) or error
            ckpts = sorted(p for p in trial_dir.glob("checkpoint_*") if p.is_dir())
            result = trial_result(last, str(ckpts[-1]) if ckpts else None,
                                  spec.sampled(params), checkpoint_name)
            tune_id = state.get("trial_id") or (last or {}).get("trial_id") or folder
            name = trial_name(spec.name, tune_id) if state or last else folder
            if status == "completed" and ckpts:  # scores come back for kept rows too
                record_folder_scores(board, spec.name, name, str(ckpts[-1]))
            if name in done:
                continue
            board.record_trial(spec.name, name, status, result, result["config"], error=error)
            count += 1
        written[spec.name] = count
    if search is not None and search not in written:
        known = ", ".join(read_record(p)["name"] for p in searches_in(storage)) or "(none)"
        raise ZooError(f"no search '{search}' stored in {storage}; searches there: {known}")
    return written
