"""Starting or joining Ray, with one clear error when that fails (``zoo tune``, ``zoo train
--workers``, ``zoo inpaint --address``)."""

from __future__ import annotations

import logging
import signal
from typing import Any

from zoo.errors import ZooError


def init_ray(address: str | None, kwargs: dict[str, Any]) -> None:
    import ray

    # Ray logs one notice at every start about its token authentication (on by default,
    # which is what keeps the embedded cluster's ports safe): the README says it once.
    logging.getLogger("ray._private.authentication.authentication_token_setup").setLevel(
        logging.ERROR)
    if ray.is_initialized():
        return
    try:
        # without --address: always a cluster of our own ("local"). Ray's default would join
        # any cluster already running on this machine (or named by $RAY_ADDRESS): someone
        # else's, with their code and their resources.
        ray.init(address=address or "local", **kwargs)
    except SystemExit as exc:  # ray.init's own SIGTERM handler: an interrupt, as Ctrl-C
        if exc.code == signal.SIGTERM:
            raise KeyboardInterrupt from None
        raise
    except (ConnectionError, ValueError, RuntimeError, TimeoutError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        where = f"the Ray cluster at {address}" if address else "a local Ray"
        hint = ("check the address (HOST:PORT of the head node, or auto on a node of a "
                "running cluster) or leave --address out to run on this machine"
                if address else "see `ray status`")
        raise ZooError(f"could not start or join {where}: {first[:300]}; {hint}") from None
