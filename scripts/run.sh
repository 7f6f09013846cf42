#!/usr/bin/env bash
# The main job: set up, build, and run the DT-R1 loop end to end on a small budget —
# generate TwinBench, build a twin from the pixels and measure perception, a short GRPO run
# from the committed SFT adapter, evaluate on the test split (table with 95% CIs), and draw
# the curves. Everything lands in runs/demo/.
#
#   bash scripts/run.sh          # small budget (minutes on 2 cores)
#   bash scripts/run.sh --full   # the committed adapter's recipe: SFT, then GRPO (hours)
set -euo pipefail
cd "$(dirname "$0")/.."
full=0
[ "${1:-}" = "--full" ] && full=1
bash scripts/setup.sh
cargo build --release --locked -p dtr1-cli
dtr1=target/release/dtr1
out=runs/demo
rm -rf "$out"
mkdir -p "$out"

# The shipped example twin, in the compact form the policy reads.
$dtr1 twin examples/desk.twin.json

sft_adapter=adapters/dtr1-smollm2-135m-sft
if [ "$full" = 1 ]; then
  # The documented configuration of the committed adapter: SFT cold start, then GRPO (hours).
  scenes=300; clips=100; sft_limit=600; per_task=0
  sft_cfg=adapters/dtr1-smollm2-135m/sft.toml; grpo_cfg=adapters/dtr1-smollm2-135m/grpo.toml
else
  # Small budget: a short GRPO run from the committed SFT adapter.
  scenes=40; clips=10; per_task=4
  cat > "$out/small.toml" <<'TOML'
[grpo]
steps = 3
prompts_per_step = 2
group_size = 4
max_completion_tokens = 192
beta = 0.0
checkpoint_every = 1
[lora]
rank = 16
alpha = 32.0
targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
top_layers = 10
[optim]
lr = 1e-4
warmup_steps = 1
TOML
  grpo_cfg=$out/small.toml
fi

# TwinBench, and twins built from the pixels alone (perception measured against the truth).
$dtr1 data generate --out "$out/data" --scenes $scenes --clips $clips
$dtr1 twin "$out/data/images/scene_00001.png" --overlay "$out/twin-scene_00001.png" > "$out/twin-scene_00001.txt"
$dtr1 perceive-eval "$out/data" --split test --backend pixels --images-only

if [ "$full" = 1 ]; then
  # Prompt version 1, as the committed adapter was trained (adapters/runs/ has the version 2 runs).
  $dtr1 sft --data "$out/data" --config "$sft_cfg" --out "$out/sft" --limit $sft_limit --prompt-version 1
  sft_adapter=$out/sft/adapter
fi
$dtr1 train --data "$out/data" --config "$grpo_cfg" --out "$out/grpo" --init-adapter "$sft_adapter"
$dtr1 eval "$out/data" --split test --answerer policy --adapter "$out/grpo/adapter" --max-tokens 288 --per-task $per_task --out "$out/eval"
echo "curves: $out/grpo/curves.png; report: $out/eval/report.md; twin overlay: $out/twin-scene_00001.png"
