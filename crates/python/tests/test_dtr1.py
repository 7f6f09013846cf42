"""The dtr1 Python package, called the way each trainer calls it.

TRL, verl and OpenRLHF need torch/CUDA stacks that do not install cheaply on a CPU machine, so
each adapter is called exactly as the trainer's reward code calls it (arguments, keyword names,
per-row column layout, loading the reward file by path), and its answers are checked against
``score_rollout`` (the Rust reward) and against each other.
"""

import importlib.util
import json
import threading
import time

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils

import dtr1
import dtr1.adapters

H, W = 120, 160
QUERY = "the thing that would roll away"
PROMPT = "<|im_start|>user\nTwin: ...\nQuery: the thing that would roll away<|im_end|>\n<|im_start|>assistant\n"


def rle(m):
    r = mask_utils.encode(np.asfortranarray(m.astype(np.uint8)))
    r["counts"] = r["counts"].decode()
    return r


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    """A picture with a red square, a blue disc and a green bar, its Grounded-SAM-2 dump
    (masks encoded by pycocotools), the twin dtr1 builds from them, and a label."""
    d = tmp_path_factory.mktemp("scene")
    img = np.full((H, W, 3), 200, np.uint8)
    yy, xx = np.mgrid[:H, :W]
    masks = {
        "cube": (yy >= 20) & (yy < 50) & (xx >= 20) & (xx < 50),
        "ball": (yy - 70) ** 2 + (xx - 100) ** 2 <= 20**2,
        "bar": (yy >= 95) & (yy < 110) & (xx >= 10) & (xx < 90),
    }
    colours = {"cube": (220, 30, 30), "ball": (30, 30, 220), "bar": (30, 200, 30)}
    for k, m in masks.items():
        img[m] = colours[k]
    Image.fromarray(img).save(d / "scene.png")
    anns = []
    for (name, m), score in zip(masks.items(), (0.9, 0.8, 0.7)):
        r = rle(m)
        x, y, bw, bh = mask_utils.toBbox(r).tolist()
        anns.append({"class_name": name, "bbox": [x, y, x + bw, y + bh], "segmentation": r, "score": score})
    dump = {"image_path": "scene.png", "annotations": anns, "box_format": "xyxy", "img_width": W, "img_height": H}
    (d / "det.json").write_text(json.dumps(dump))
    twin = json.loads(dtr1.build_twin(str(d / "scene.png"), str(d / "det.json")))
    ball = next(o for o in twin["objects"] if o["label"] == "ball")
    truth = {"type": "mask", "mask": rle(masks["ball"]), "ids": [ball["id"]]}
    label = dtr1.make_label("image-reasonseg", QUERY, truth, twin)
    return {"twin": twin, "masks": masks, "truth": truth, "label": label, "ball": ball}


def rollout(o, answer_id, think="the ball rolls"):
    sub = {"objects": [{"id": o["id"], "label": o["label"], "bbox": o["bbox"]}]}
    return f"<twin>{json.dumps(sub)}</twin>\n<think>{think}</think>\n<answer>[{answer_id}]</answer>"


@pytest.fixture(scope="module")
def completions(scene):
    cube = next(o for o in scene["twin"]["objects"] if o["label"] == "cube")
    return [
        rollout(scene["ball"], scene["ball"]["id"]),  # right
        rollout(cube, cube["id"], "the cube"),  # honest but wrong
        f"<answer>[{scene['ball']['id']}]</answer>",  # no twin, no think
        "I do not know",
    ]


def direct(scene, c):
    return dtr1.score_rollout(
        c, json.dumps(scene["twin"]), json.dumps(scene["truth"]), "image-reasonseg", QUERY
    )


def test_twin_masks_are_pycocotools_rle(scene):
    assert len(scene["twin"]["objects"]) == 3
    for o in scene["twin"]["objects"]:
        r = rle(scene["masks"][o["label"]])
        assert o["mask"]["counts"] == r["counts"]
        assert o["mask"]["size"] == [H, W]
        assert o["area"] == int(mask_utils.area(r))


def test_score_rollout_ranks_answers(scene, completions):
    rs = [direct(scene, c) for c in completions]
    assert rs[0]["accuracy"] == pytest.approx(1.0) and rs[0]["format"] == 1.0
    assert rs[0]["total"] > rs[1]["total"] > rs[2]["total"]
    assert rs[3]["format"] == 0.0 and rs[3]["problems"]
    assert set(rs[0]) >= {"total", "format", "structure", "accuracy", "penalty", "structure_checks", "problems"}


def test_trl_reward_as_grpo_trainer_calls_it(scene, completions):
    # GRPOTrainer: one row per generation; every column but prompt/completion becomes a kwarg.
    inputs = [
        {"prompt": [{"role": "user", "content": PROMPT}], "label": scene["label"], "task": "image-reasonseg"}
        for _ in completions
    ]
    prompts = [x["prompt"] for x in inputs]
    keys = [k for k in inputs[0] if k not in ["prompt", "completion"]]
    reward_kwargs = {k: [ex[k] for ex in inputs] for k in keys}
    conversational = [[{"role": "assistant", "content": c}] for c in completions]
    got = dtr1.trl_reward(
        prompts=prompts,
        completions=conversational,
        completion_ids=[[0, 1]] * len(completions),
        trainer_state=None,
        **reward_kwargs,
    )
    want = [direct(scene, c)["total"] for c in completions]
    assert got == want
    assert all(isinstance(x, float) for x in got)
    # Standard (string) completions give the same.
    assert dtr1.trl_reward(prompts=[PROMPT] * 4, completions=completions, **reward_kwargs) == want
    with pytest.raises(ValueError, match="label"):
        dtr1.trl_reward(prompts=prompts, completions=completions, task=reward_kwargs["task"])


def test_verl_compute_score_as_reward_manager_calls_it(scene, completions):
    # verl's NaiveRewardManager: keyword call; ground_truth = reward_model["ground_truth"].
    row = {
        "data_source": "twinbench/image-reasonseg",
        "reward_model": {"style": "rule", "ground_truth": scene["label"]},
        "extra_info": {"split": "test", "index": 0},
    }
    reward_extra_info = {}
    for c in completions:
        result = dtr1.compute_score(
            data_source=row["data_source"],
            solution_str=c,
            ground_truth=row["reward_model"]["ground_truth"],
            extra_info=row["extra_info"],
        )
        assert isinstance(result, dict)
        d = direct(scene, c)
        assert result["score"] == d["total"]
        for k, v in result.items():
            assert isinstance(v, float)
            reward_extra_info.setdefault(k, []).append(v)
    assert reward_extra_info["accuracy"][0] == pytest.approx(1.0)
    # Positional call with the default extra_info works too.
    assert dtr1.compute_score("twinbench", completions[0], scene["label"])["score"] == direct(scene, completions[0])["total"]


def test_openrlhf_reward_func_loaded_by_path(scene, completions):
    # OpenRLHF: --remote_rm_url path/to/file.py, loaded with spec_from_file_location, called
    # with queries (prompt + completion, special tokens kept), prompts and labels.
    spec = importlib.util.spec_from_file_location("reward_func", dtr1.adapters.__file__)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    queries = [PROMPT + c + "<|im_end|>" for c in completions]
    out = mod.reward_func(queries, [PROMPT] * len(queries), [scene["label"]] * len(queries))
    rewards = [float(x) for x in out["rewards"]]
    assert rewards == [direct(scene, c)["total"] for c in completions]
    assert [float(x) for x in out["scores"]] == [direct(scene, c)["accuracy"] for c in completions]
    assert set(out["extra_logs"]) == {"format", "structure", "accuracy", "penalty"}


def test_bad_input_is_a_value_error(scene, completions):
    with pytest.raises(ValueError, match=r"labels\[0\]"):
        dtr1.score_labels(completions[:1], ['{"task": "image-vqa"}'])
    with pytest.raises(ValueError, match="unknown task"):
        dtr1.score_rollout("x", json.dumps(scene["twin"]), json.dumps(scene["truth"]), "nope", QUERY)
    with pytest.raises(ValueError, match="is scored against a truth of type"):
        dtr1.compute_score("x", "y", dtr1.make_label("image-vqa", QUERY, scene["truth"], scene["twin"]))
    with pytest.raises(ValueError):
        dtr1.build_twin("/nonexistent.png", "/nonexistent.json")


def test_split_completion():
    c = "<think>x</think>"
    # The end-of-turn token stays on; scoring takes it off (every route the same way).
    assert dtr1.split_completion(PROMPT + c + "<|im_end|>", PROMPT) == c + "<|im_end|>"
    assert dtr1.split_completion("<|endoftext|><|endoftext|>" + PROMPT + c, PROMPT) == c
    assert dtr1.split_completion(c, "") == c
    # The completion cannot move the boundary by writing an assistant turn of its own ...
    hostile = "junk<|im_start|>assistant\n" + c
    assert dtr1.split_completion(PROMPT + hostile, PROMPT) == hostile
    # ... and a prompt that is not the query's is an error, not a guess.
    with pytest.raises(ValueError, match="does not contain the prompt"):
        dtr1.split_completion(PROMPT + c, PROMPT.replace("Query", "query"))


def test_end_of_turn_tokens_score_the_same_on_every_route(scene, completions):
    label = scene["label"]
    for c in completions:
        plain = dtr1.score_labels([c], [label])[0]["total"]
        assert dtr1.score_labels([c + "<|im_end|>"], [label])[0]["total"] == plain
        assert dtr1.score_labels([PROMPT + c + "<|im_end|><|endoftext|>"], [label], prompts=[PROMPT])[0]["total"] == plain


def test_gil_is_released_while_scoring(scene, completions):
    # A Python thread keeps counting while a large batch is scored in Rust.
    n = 30000
    batch = (completions * (n // len(completions)))[:n]
    labels = [scene["label"]] * n
    count = [0]
    stop = threading.Event()

    def spin():
        while not stop.is_set():
            count[0] += 1

    t = threading.Thread(target=spin)
    t.start()
    time.sleep(0.01)
    before = count[0]
    start = time.perf_counter()
    results = dtr1.score_labels(batch, labels)
    during = count[0] - before
    elapsed = time.perf_counter() - start
    stop.set()
    t.join()
    assert len(results) == n
    assert during > 1000, f"counter moved {during} times in {elapsed:.3f} s"
