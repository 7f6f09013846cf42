"""Reward adapters with the exact signatures TRL, verl and OpenRLHF call.

This file imports nothing relative, so trainers that load a reward file by path (verl's
``custom_reward_function.path``, OpenRLHF's ``--remote_rm_url``) can be pointed at it directly.
"""

import json

from dtr1 import _native

# The components every adapter reports beside the total.
COMPONENTS = ("format", "structure", "accuracy", "penalty")


def make_label(task, query, truth, twin):
    """The dt-r1 label JSON string of one sample (truth and twin as dicts or JSON strings)."""
    as_obj = lambda v: json.loads(v) if isinstance(v, str) else v  # noqa: E731
    return json.dumps(
        {"task": task, "query": query, "truth": as_obj(truth), "twin": as_obj(twin)},
        separators=(",", ":"),
    )


def _label_text(label):
    return label if isinstance(label, str) else json.dumps(label, separators=(",", ":"))


def _completion_text(completion):
    """A completion as text: TRL passes strings, or for conversational datasets a list of
    messages ``[{"role": "assistant", "content": ...}]`` whose assistant turns are joined."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list):
        parts = [
            m.get("content") or ""
            for m in completion
            if isinstance(m, dict) and m.get("role", "assistant") == "assistant"
        ]
        return "".join(p if isinstance(p, str) else "" for p in parts)
    raise TypeError(f"a completion must be a string or a list of messages, not {type(completion).__name__}")


def trl_reward(prompts, completions, **kwargs):
    """TRL ``reward_funcs`` entry: the dt-r1 total reward of each completion.

    TRL calls ``reward_func(prompts=..., completions=..., completion_ids=..., **columns)`` with
    every other dataset column as a keyword argument, one value per completion; this reads the
    ``label`` column. Returns ``list[float]``.
    """
    labels = kwargs.get("label")
    if labels is None:
        raise ValueError(
            "trl_reward needs the dataset column `label` (dt-r1 label JSON); "
            "`dtr1 data export --format trl` writes it"
        )
    texts = [_completion_text(c) for c in completions]
    results = _native.score_labels(texts, [_label_text(x) for x in labels])
    return [r["total"] for r in results]


trl_reward.__name__ = "dtr1_reward"


def compute_score(data_source, solution_str, ground_truth, extra_info=None):
    """verl ``compute_score``: ``ground_truth`` is the label (``reward_model.ground_truth`` of
    the exported parquet). Returns a dict whose ``score`` is the total reward; the components
    go to verl's ``reward_extra_info``."""
    r = _native.score_labels([solution_str], [_label_text(ground_truth)])[0]
    out = {"score": r["total"]}
    out.update({k: r[k] for k in COMPONENTS})
    return out


def reward_func(queries, prompts, labels):
    """OpenRLHF custom reward function: ``queries`` are prompt + completion, ``labels`` the
    ``--label_key`` column (label JSON strings). Returns ``rewards`` (total), ``scores``
    (accuracy in [0, 1], for dynamic filtering) and ``extra_logs`` (components), as torch
    tensors when torch is importable (as OpenRLHF's own examples return), lists otherwise."""
    results = _native.score_labels(
        list(queries), [_label_text(x) for x in labels], prompts=list(prompts)
    )
    rewards = [r["total"] for r in results]
    scores = [r["accuracy"] for r in results]
    logs = {k: [r[k] for r in results] for k in COMPONENTS}
    try:
        import torch
    except ImportError:
        return {"rewards": rewards, "scores": scores, "extra_logs": logs}
    t = lambda v: torch.tensor(v, dtype=torch.float32)  # noqa: E731
    return {"rewards": t(rewards), "scores": t(scores), "extra_logs": {k: t(v) for k, v in logs.items()}}
