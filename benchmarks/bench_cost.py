"""What each preset's model costs: parameters, GFLOPs per image, inference latency.

The same figures a leaderboard row carries (``zoo.cost``), measured here on a quiet
machine with more repeats, for the presets a user picks between. Latency is ms per image
at batch 1 and batch 64 (32x32 CIFAR images), on the device named beside it.

    python benchmarks/bench_cost.py                      # paper, strong, vanilla
    python benchmarks/bench_cost.py --presets strong --repeats 20
    python benchmarks/bench_cost.py --smoke              # tiny, for CI: proves it runs
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402

from _common import apply_smoke, machine, print_json, print_table  # noqa: E402

SMOKE = {"presets": "tiny", "repeats": 1}


def build(name: str):
    """A preset's model (``NAME`` or ``NAME+KEY=VALUE,...``), or ``tiny`` for the smoke run."""
    from zoo.model import build_model
    from zoo.config import preset
    from zoo.settings import build_config

    if name == "tiny":
        return build_model(build_config({"encoder": "none", "unet": {"widths": [8, 16, 32]}}))
    base, _, extra = name.partition("+")
    sets = dict(kv.split("=", 1) for kv in extra.split(",") if kv)
    return build_model(build_config(preset(base), sets))


def main(argv: list[str] | None = None) -> int:
    from zoo import cost

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--presets", default="paper,strong,strong+encoder=none")
    parser.add_argument("--repeats", type=int, default=10, help="timed forwards per batch size")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (all)")
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args(argv)
    args = apply_smoke(parser, args, SMOKE)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    facts = machine(device)
    print_json("machine", facts)
    cost.REPEATS = {1: args.repeats, 64: max(1, args.repeats // 2)}
    rows = []
    for name in args.presets.split(","):
        model = build(name).to(device)
        figures = cost.model_cost(model, (32, 32))
        params = sum(p.numel() for p in model.parameters())
        record = {"preset": name, "params": params, **figures}
        print_json("cost", record)
        rows.append([name, params, figures["gflops"], figures["latency_ms"]["batch1"],
                     figures["latency_ms"]["batch64"], figures["latency_device"]])
    print_table(f"model cost on {facts['device_name']}",
                ["preset", "params", "GFLOPs/img", "ms/img b1", "ms/img b64", "measured on"],
                rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
