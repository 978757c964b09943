"""Inpaint a folder of images over Ray Data: one model per worker, images streamed.

``inpaint_folder`` runs ``zoo.inpaint.inpaint_files`` inside Ray Data's ``map_batches``
with a callable class, on a fixed pool of ``workers`` actors (``ActorPoolStrategy``): each
actor loads the model once, then takes images one at a time and writes each output as it
finishes, through the same atomic writer as the local loop (a temp file ``.tmp-*`` beside
the output, renamed onto it). Outcomes stream back to the caller as images finish; a bad
image becomes a failed outcome named by its file, and the rest go on.

Every node reads the images and writes ``out`` by the same paths: run it on a shared
filesystem (or one machine). Nothing here prints; ``zoo inpaint`` shows the progress.

Reruns: ``split_done`` leaves out jobs whose output is already complete (``is_complete``),
unless ``overwrite``; the local loop and the cluster path share it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoo.errors import ZooError

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"  # the IEND chunk: the last 12 bytes of a PNG
_NO_HOLE = "marks no hole pixel"  # zoo.inpaint.plan's refusal of a mask with no hole


def is_complete(path: str | os.PathLike) -> bool:
    """Whether ``path`` holds a finished output: a regular file (not a link) that starts
    with the PNG signature and ends with the IEND chunk. zoo renames a fully written temp
    file onto the output, so a present output is complete; the check also refuses a file
    cut short by another tool. Temp files (``.tmp-*``) never bear an output's name."""
    p = Path(path)
    if p.is_symlink() or not p.is_file():
        return False
    try:
        size = p.stat().st_size
        if size < len(_PNG_SIGNATURE) + len(_PNG_END):
            return False
        with open(p, "rb") as f:
            head = f.read(len(_PNG_SIGNATURE))
            f.seek(size - len(_PNG_END))
            return head == _PNG_SIGNATURE and f.read() == _PNG_END
    except OSError:
        return False


def split_done(items: Sequence[Any], overwrite: bool = False) -> tuple[list[Any], list[Any]]:
    """``(to_do, done)``: the items (anything with ``.out``) whose output is not yet
    complete, and those already done; with ``overwrite`` nothing counts as done."""
    if overwrite:
        return list(items), []
    done = [j for j in items if is_complete(j.out)]
    return [j for j in items if not is_complete(j.out)], done


@dataclass(frozen=True)
class Task:
    """One image for a worker: its file and its output (the mask is found there)."""

    image: Path
    out: Path


@dataclass(frozen=True)
class Settings:
    """How every worker inpaints: the arguments of ``zoo.inpaint.plan`` and
    ``inpaint_files``, the device, and the CPUs each worker takes (its torch threads)."""

    out_dir: str
    mask: str | None = None
    mask_kind: str | None = None
    mask_args: dict[str, Any] = field(default_factory=dict)
    seed: int = 2024
    batch_size: int = 4
    tile: int = 512
    device: str = "cpu"
    cpus: float = 1.0
    seam: str = "poisson"  # zoo.seam, as zoo inpaint's default


@dataclass(frozen=True)
class Outcome:
    """What became of one image: ``status`` is written, failed or no_hole (its mask
    marks no pixel, nothing written); ``error`` is the reason of a failure."""

    image: Path
    out: Path
    status: str
    error: str = ""
    node: str = ""  # the Ray node id of the worker that took it


def tasks(image: str | os.PathLike, out_dir: str | os.PathLike,
          mask: str | os.PathLike | None = None) -> list[Task]:
    """The images of a folder (or one file) with their outputs, checked across images
    (no two outputs alike, no output onto an input) without opening any image: each
    worker checks its own image and mask (``zoo.inpaint.plan``) when it takes it."""
    from zoo.inpaint import find_images

    mask_path = Path(mask) if mask is not None else None
    if mask_path is not None and not mask_path.exists():
        raise ZooError(f"--mask {mask_path} does not exist; give a mask file or folder")
    one = [mask_path] if mask_path is not None and mask_path.is_file() else []
    images = find_images(image, exclude=one)
    inputs = {p.resolve() for p in images + one}
    if mask_path is not None and mask_path.is_dir():
        inputs |= {p.resolve() for p in mask_path.iterdir()}
    seen: dict[Path, Path] = {}
    out: list[Task] = []
    for img in images:
        target = Path(out_dir) / f"{img.stem}.png"
        key = target.resolve()
        if key in seen:
            raise ZooError(f"{img} and {seen[key]} would both be written to {target}; "
                           "rename one (outputs are named by file stem)")
        if key in inputs:
            raise ZooError(f"writing {target} would overwrite an input file; choose another "
                           "--out")
        seen[key] = img
        out.append(Task(img.absolute(), target.absolute()))
    return out


def inpaint_one(model: Any, task: Task, settings: Settings) -> Outcome:
    """Plan, inpaint and write one image with ``zoo.inpaint``; any error becomes a failed
    outcome naming its reason (one line), so one bad image stops nothing else."""
    from zoo.inpaint import inpaint_files, plan

    try:
        jobs = plan(task.image, settings.out_dir, settings.mask,
                    generate=settings.mask_kind is not None)
        inpaint_files(model, jobs, mask_kind=settings.mask_kind, mask_args=settings.mask_args,
                      seed=settings.seed, batch_size=settings.batch_size, tile=settings.tile,
                      seam=settings.seam)
    except ZooError as exc:
        if _NO_HOLE in str(exc):
            return Outcome(task.image, task.out, "no_hole")
        return Outcome(task.image, task.out, "failed", _first_line(exc))
    except Exception as exc:  # noqa: BLE001 - a decoder's error on a bad file, reported
        return Outcome(task.image, task.out, "failed", f"{type(exc).__name__}: "
                                                       f"{_first_line(exc)}")
    return Outcome(task.image, task.out, "written")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:300]


class _Worker:
    """A Ray Data actor: loads the model once, then inpaints the images of each batch."""

    def __init__(self, model: str, settings: Settings) -> None:
        import ray
        import torch

        from zoo.api import load

        torch.set_num_threads(max(1, int(settings.cpus)))  # Ray sets OMP_NUM_THREADS=1
        self.net = load(model, device=settings.device).net
        self.settings = settings
        self.node = ray.get_runtime_context().get_node_id()

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[str]]:
        done = [inpaint_one(self.net, Task(Path(i), Path(o)), self.settings)
                for i, o in zip(batch["image"], batch["out"])]
        return {"image": [str(d.image) for d in done], "out": [str(d.out) for d in done],
                "status": [d.status for d in done], "error": [d.error for d in done],
                "node": [self.node] * len(done)}


def inpaint_folder(model: str | os.PathLike, todo: Sequence[Task], settings: Settings, *,
                   workers: int) -> Iterator[Outcome]:
    """Inpaint ``todo`` on ``workers`` Ray Data actors of ``settings.cpus`` CPUs each (Ray
    must be started: ``connect``), yielding each image's outcome as it finishes."""
    import ray.data

    if not todo:
        return
    logging.getLogger("ray.data").setLevel(logging.ERROR)  # its per-run notices on stderr
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False  # the caller shows one; library code never prints
    ctx.print_on_execution_start = False
    ds = ray.data.from_items([{"image": str(t.image), "out": str(t.out)} for t in todo],
                             override_num_blocks=len(todo))  # one image a block: streamed
    ds = ds.map_batches(_Worker, batch_size=1, batch_format="numpy",
                        compute=ray.data.ActorPoolStrategy(size=workers),
                        fn_constructor_kwargs={"model": str(Path(model).absolute()),
                                               "settings": settings},
                        num_cpus=settings.cpus,
                        num_gpus=1 if settings.device.startswith("cuda") else 0)
    try:
        for row in ds.iter_rows():
            yield Outcome(Path(row["image"]), Path(row["out"]), str(row["status"]),
                          str(row["error"]), str(row["node"]))
    except ray.exceptions.RayError as exc:  # a worker died or could not load the model
        raise ZooError(f"the Ray Data run stopped: {_first_line(exc)}; images finished "
                       "so far are written, and a rerun skips them") from None


def check_workers(workers: int | None) -> None:
    """``--workers`` below 1 is refused before Ray starts."""
    if workers is not None and workers < 1:
        raise ZooError(f"--workers {workers}: give 1 or more workers (each loads the model "
                       "once), or leave --workers out")


def connect(address: str | None, workers: int | None, cpus: float = 1.0,
            device: str = "auto") -> tuple[bool, int, str]:
    """Join the Ray cluster at ``address`` (``auto`` or HOST:PORT), or start a local Ray
    when None, and check that it has the CPUs for ``workers`` workers of ``cpus`` each
    (None: as many as fit); every refusal is one line, before any worker starts.
    -> (whether this call started Ray: the caller shuts it down, the worker count, the
    workers' device: ``auto`` becomes cuda where the cluster has a GPU per worker)."""
    import ray

    from zoo.tune.runner import _init_ray, check_address

    check_workers(workers)
    if cpus <= 0:
        raise ZooError(f"--worker-cpus {cpus:g}: give a positive number of CPUs, e.g. 1 or 0.5")
    check_address(address)
    started = not ray.is_initialized()
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                              "configure_logging": False}
    if address is None:
        kwargs["num_cpus"] = os.cpu_count() or 1
    _init_ray(address, kwargs)
    have = ray.cluster_resources()
    cpu = float(have.get("CPU", 0))
    n = workers if workers is not None else max(1, int(cpu // cpus))
    if n * cpus > cpu:
        if started:
            ray.shutdown()
        where = f"the cluster at {address}" if address else "this machine"
        raise ZooError(f"--workers {n} needs {n * cpus:g} CPUs but {where} has {cpu:g}; "
                       f"give --workers {max(1, int(cpu // cpus))} or fewer (or a smaller "
                       "--worker-cpus)")
    if device == "auto":
        device = "cuda" if float(have.get("GPU", 0)) >= n else "cpu"
    elif device.startswith("cuda") and float(have.get("GPU", 0)) < n:
        if started:
            ray.shutdown()
        raise ZooError(f"--device {device} with --workers {n} needs {n} GPUs but Ray sees "
                       f"{float(have.get('GPU', 0)):g}; give fewer --workers or --device cpu")
    if device.startswith("cuda"):
        device = "cuda"  # Ray gives each worker its own GPU, seen there as cuda:0
    return started, n, device
