"""``deliverymodes compare``: one workload under each delivery model, and what each costs.

``_run`` is the engine (the workload, the publisher, the readers, the measurements) in memory;
``_remote`` runs it over TCP or HTTP, ``_redis`` through Redis; :func:`run_model` picks one by
the workload's transport.
"""

from __future__ import annotations

from collections.abc import Callable

from ._redis import run_redis
from ._remote import run_remote
from ._run import MODELS, TRANSPORTS, Progress, Result, Workload, run_in_memory

__all__ = ["MODELS", "TRANSPORTS", "Progress", "Result", "Workload", "run_model"]


async def run_model(
    model: str,
    workload: Workload,
    on_progress: Callable[[Progress], None] | None = None,
    *,
    redis_url: str | None = None,
) -> Result:
    """Run ``workload`` under ``model`` (one of MODELS) and measure it; the redis transport goes
    through the Redis at ``redis_url``."""
    if model not in MODELS:
        raise ValueError(f"model must be one of {', '.join(MODELS)}, got {model!r}")
    if (workload.transport == "redis") != (redis_url is not None):
        raise ValueError("redis_url is needed with the redis transport, and only with it")
    if redis_url is not None:
        return await run_redis(model, workload, on_progress, redis_url)
    if workload.transport == "memory":
        return await run_in_memory(model, workload, on_progress)
    return await run_remote(model, workload, on_progress)
