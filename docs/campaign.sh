#!/usr/bin/env bash
# The Phase C campaign as it is run here: from a fixed commit, in a separate git worktree with
# its own venv (so edits on main never reach a running sweep), into an output folder seeded
# with the runs docs/data already holds (complete runs are skipped, so nothing is redone).
# docs/reproduce.sh is the clean-machine route to the same runs; this script is the resumable
# one for a long campaign on a machine that may be fresh at each start.
#
#   docs/campaign.sh setup          worktree + venv at $CAMPAIGN_COMMIT, seed the output folder
#   docs/campaign.sh start [N]      N background queues (default 2; one while you develop)
#   docs/campaign.sh status         what each queue's sweep has left
#   docs/campaign.sh land           copy complete runs into docs/data, write their final_eval
#
# Queues share the output folder: a run is held by one process at a time (a per-run flock),
# so a second queue skips the run the first holds and takes the next one. After `land`,
# rebuild the page as docs/reproduce.sh --report-only does and commit docs/data with it.
set -euo pipefail
cd "$(dirname "$0")/.."
MAIN=$PWD
CAMPAIGN_COMMIT=${CAMPAIGN_COMMIT:-5526eb1}  # the commit every Phase C run was made at
WORKTREE=${CAMPAIGN_DIR:-$MAIN/../campaign}
OUT=${CAMPAIGN_OUT:-$MAIN/../campaign-out}
LOGS=$OUT/logs
TASKS=HalfCheetah-v5,Hopper-v5,Walker2d-v5

# In order of what each decides (docs/analysis-plan.md, Changes of 2026-12-07): the
# invariance curves, F5's second task, step-size sensitivity (3 seeds first), Tianshou's
# seeds 5-9. A suite file newer than the fixed commit is read from this checkout's suites/.
each_sweep() {  # "$@" + each sweep's arguments, in queue order (one list for queue and status)
  local c1m=(--out "$OUT/controlled-1m")
  "$@" --suite invariance-hopper --seeds 0,1,2 "${c1m[@]}"
  "$@" --suite invariance-hopper --seeds 3,4 "${c1m[@]}"
  "$@" --suite "$MAIN/suites/invariance-scale-walker2d-1m.toml" "${c1m[@]}"
  "$@" --suite sensitivity-1m --seeds 0,1,2 "${c1m[@]}"
  "$@" --suite sensitivity-1m --seeds 3,4 "${c1m[@]}"
  "$@" --suite tianshou-mujoco --algos npg,trpo,ppo --envs "$TASKS" --seeds 5,6,7,8,9 \
    --out "$OUT/tianshou-mujoco"
}

queue() {
  each_sweep npgbench sweep --wandb disabled --jobs 1 --quiet
}

setup() {
  if [ ! -d "$WORKTREE" ]; then
    git worktree add --detach "$WORKTREE" "$CAMPAIGN_COMMIT"
  fi
  if [ ! -x "$WORKTREE/.venv/bin/npgbench" ]; then
    python3 -m venv "$WORKTREE/.venv"
    "$WORKTREE/.venv/bin/pip" install -q --upgrade pip
    "$WORKTREE/.venv/bin/pip" install -q torch==2.13.0  # the CPU wheel (README, Install)
    "$WORKTREE/.venv/bin/pip" install -q -e "$WORKTREE"
  fi
  mkdir -p "$OUT/controlled-1m" "$OUT/tianshou-mujoco" "$LOGS"
  # Phase C's reference arms are Phase B's runs (same run ids): one folder for all of them.
  for suite in controlled-1m ablation-1m invariance-scale-1m invariance-hopper \
    invariance-scale-walker2d-1m sensitivity-1m; do
    seed_from "docs/data/$suite" "$OUT/controlled-1m"
  done
  seed_from docs/data/tianshou-mujoco "$OUT/tianshou-mujoco"
}

seed_from() {  # copy each run directory of $1 that $2 lacks (never over one it has)
  [ -d "$1" ] || return 0
  local run
  shopt -s nullglob
  for run in "$1"/*__*/; do
    [ -e "$2/$(basename "$run")" ] || cp -r "$run" "$2/"
  done
}

start() {
  local n=${1:-2}
  for i in $(seq "$n"); do
    (
      cd "$WORKTREE" && . .venv/bin/activate
      export OMP_NUM_THREADS=1 WANDB_MODE=disabled
      nohup bash -c "$(declare -f each_sweep queue); OUT='$OUT' MAIN='$MAIN' TASKS='$TASKS' queue" \
        >> "$LOGS/queue-$(date +%Y%m%d-%H%M%S)-$i.log" 2>&1 &
    )
    sleep 20  # the second queue starts after the first has locked its run
  done
  echo "$n queues started; logs in $LOGS"
}

dry_run() {  # the work one sweep has left
  npgbench sweep --dry-run "$@" | tail -1
}

status() {
  cd "$WORKTREE" && . .venv/bin/activate
  each_sweep dry_run
}

land() {  # with this checkout's npgbench (its venv active), not the fixed commit's
  npgbench dataset add "$OUT/controlled-1m" "$OUT/tianshou-mujoco" --into docs/data
  npgbench eval --write docs/data/*/*__*/ | grep -v "(kept)" || true
}

case "${1:-}" in
  setup) setup ;;
  start) start "${2:-2}" ;;
  status) status ;;
  land) land ;;
  *)
    echo "usage: docs/campaign.sh setup | start [N] | status | land" >&2
    exit 2
    ;;
esac
