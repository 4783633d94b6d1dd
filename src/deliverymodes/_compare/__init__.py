"""``deliverymodes compare``: one workload under each delivery model, and what each costs.

``_run`` is the engine (the workload, the publisher, the readers, the measurements) in memory;
``_remote`` runs it over TCP or HTTP.
"""

from ._run import MODELS, TRANSPORTS, Progress, Result, Workload, run_model

__all__ = ["MODELS", "TRANSPORTS", "Progress", "Result", "Workload", "run_model"]
