#!/usr/bin/env bash
# The full-budget benchmark: sweeps -> docs/data -> docs/results.md. Every sweep is resumable
# (complete runs are skipped, interrupted ones continue from their checkpoint), so rerun this
# until every run is in. About 25 CPU-hours for all phases on this 2-core machine;
# `--report-only` skips the sweeps and rebuilds the page from docs/data alone.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-results/benchmark}
COMMON=(--wandb disabled --jobs "${JOBS:-2}")
TASKS=HalfCheetah-v5,Hopper-v5,Walker2d-v5

if [ "${1:-}" != "--report-only" ]; then
  # Phase A: ours beside Tianshou's published NPG, TRPO and PPO (45 runs)
  npgbench sweep --suite tianshou-mujoco --algos npg,trpo,ppo --envs "$TASKS" --num-seeds 5 \
    --out "$OUT/tianshou-mujoco" "${COMMON[@]}"
  # Phase B: every variant at one KL budget (105 runs)
  npgbench sweep --suite controlled-1m --out "$OUT/controlled-1m" "${COMMON[@]}"
  # Phase C: Hopper-v5 only; the default arms are Phase B's runs, hence the same --out
  npgbench sweep --suite sensitivity-hopper --out "$OUT/controlled-1m" "${COMMON[@]}"
  npgbench sweep --suite invariance-hopper --out "$OUT/controlled-1m" "${COMMON[@]}"
  # Fisher fidelity (300k steps, 16x16 policies): each direction against the exact natural
  # gradient under the common damping lambda I and under the variant's own damping model
  npgbench sweep --suite fisher-fidelity --out "$OUT/fisher-fidelity" "${COMMON[@]}"
  npgbench dataset add "$OUT/tianshou-mujoco" "$OUT/controlled-1m" "$OUT/fisher-fidelity" \
    --into docs/data
fi
rm -rf docs/figures docs/tables
npgbench report docs/data --out docs --name results --preamble docs/preamble.md
python -m npgbench.analysis.headline docs/tables --readme README.md
