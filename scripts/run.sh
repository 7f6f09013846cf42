#!/usr/bin/env bash
# The main job: set up, build, and run the DT-R1 loop end to end on a small budget —
# generate TwinBench, SFT cold start on solver traces, a short GRPO run from it, evaluate on
# the test split (table with 95% CIs), and draw the curves. Everything lands in runs/demo/.
#
#   bash scripts/run.sh          # small budget (minutes on 2 cores)
#   bash scripts/run.sh --full   # the documented full configuration (hours)
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

if [ "$full" = 1 ]; then
  scenes=200; clips=40; limit=0; per_task=0
  sft_cfg=examples/grpo.toml; grpo_cfg=examples/grpo.toml
else
  scenes=40; clips=10; limit=24; per_task=3
  cat > "$out/small.toml" <<'TOML'
[grpo]
steps = 2
prompts_per_step = 2
group_size = 4
max_completion_tokens = 48
checkpoint_every = 1
[sft]
epochs = 1
batch_size = 4
checkpoint_every = 2
[lora]
rank = 8
alpha = 16.0
targets = ["q_proj", "v_proj"]
top_layers = 6
[optim]
lr = 5e-4
warmup_steps = 1
TOML
  sft_cfg=$out/small.toml; grpo_cfg=$out/small.toml
fi

$dtr1 data generate --out "$out/data" --scenes $scenes --clips $clips
$dtr1 sft --data "$out/data" --config "$sft_cfg" --out "$out/sft" --limit $limit
$dtr1 train --data "$out/data" --config "$grpo_cfg" --out "$out/grpo" --init-adapter "$out/sft/adapter" --limit $limit
$dtr1 eval "$out/data" --split test --answerer policy --adapter "$out/grpo/adapter" --per-task $per_task --out "$out/eval"
echo "curves: $out/sft/curves.png $out/grpo/curves.png; report: $out/eval/report.md"
