"""dt-r1 for distributed RL trainers: twin building, rollout scoring, and reward adapters.

The work happens in Rust (``dtr1._native``) with the GIL released. Labels are dt-r1 label JSON
strings: ``{"task", "query", "truth", "twin"}`` with COCO RLE masks (see docs/scale-out.md).

Adapters, each with the exact signature its trainer calls:

- TRL ``GRPOTrainer(reward_funcs=[dtr1.trl_reward])``: ``trl_reward(prompts, completions, **kwargs)``
  reads the dataset column ``label``;
- verl ``custom_reward_function.name=compute_score``:
  ``compute_score(data_source, solution_str, ground_truth, extra_info=None)``;
- OpenRLHF ``--remote_rm_url /path/to/dtr1/adapters.py``: ``reward_func(queries, prompts, labels)``.
"""

from dtr1._native import (
    __version__,
    build_twin,
    score_labels,
    score_rollout,
    split_completion,
    tasks,
)
from dtr1.adapters import compute_score, make_label, reward_func, trl_reward

__all__ = [
    "__version__",
    "build_twin",
    "compute_score",
    "make_label",
    "reward_func",
    "score_labels",
    "score_rollout",
    "split_completion",
    "tasks",
    "trl_reward",
]
