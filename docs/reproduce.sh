#!/usr/bin/env bash
# Regenerates docs/results.md from reduced-budget runs that fit on 2 cores (~25 min).
# Every sweep is resumable: rerunning skips complete runs. The full-budget versions are the
# same commands without --envs/--seeds/--steps (see docs/results.md for cluster commands).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-results/evidence}
COMMON=(--wandb disabled --jobs 2)

npgbench sweep --suite invariance      --envs Hopper-v5 --seeds 0,1 --steps 40960 --out "$OUT/invariance" "${COMMON[@]}"
npgbench sweep --suite sensitivity     --envs Hopper-v5 --seeds 0   --steps 20480 --out "$OUT/sensitivity" "${COMMON[@]}"
npgbench sweep --suite damping         --envs Hopper-v5 --seeds 0,1 --steps 30720 --out "$OUT/damping" "${COMMON[@]}"
npgbench sweep --suite fisher-fidelity --envs Hopper-v5 --seeds 0,1 --steps 40960 --out "$OUT/fisher-fidelity" "${COMMON[@]}"
npgbench sweep --suite tianshou-mujoco --envs Hopper-v5 --seeds 0,1 --steps 51200 --out "$OUT/tianshou-mujoco" "${COMMON[@]}"
npgbench bench fisher-cost --out "$OUT/fisher_cost.csv"
npgbench report "$OUT" --out docs --name results --preamble docs/preamble.md
