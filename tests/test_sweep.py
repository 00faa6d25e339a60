"""Sweep planning: grid expansion and narrowing, run identity, --dry-run, bad input (exit 2).

Nothing here trains: these tests stop before dispatch, so they take a few seconds.
"""

from __future__ import annotations

import dataclasses
import json
import textwrap
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from npgbench.harness.core.config import ConfigError
from npgbench.harness.core.identity import config_hash, config_record, run_id
from npgbench.harness.core.run_files import RunStatus
from npgbench.harness.runner import resolve_config
from npgbench.harness.sweep import jobs as dispatch
from npgbench.harness.sweep.command import main, pick_seeds
from npgbench.harness.sweep.grid import expand
from npgbench.harness.sweep.suite_checks import load_checked_suite

SUITE = """
name = "g"
envs = ["InvertedPendulum-v5", "Hopper-v5"]
algos = ["ppo", "vanilla"]
seeds = [0, 1]
steps = 1024
[overrides]
"sampler.num_envs" = 2
"sampler.steps_per_update" = 256
"eval.every" = 0
[algo_overrides.ppo]
"update.epochs" = 3
[env_overrides."Hopper-v5"]
"sampler.gamma" = 0.98
[variants.ppo_soft]
algo = "ppo"
overrides = { "policy.std_param" = "softplus", "update.epochs" = 4 }
[grid]
"update.lr" = [1e-3, 3e-4]
[grid.ppo]
"update.clip" = [0.1, 0.3]
"""


@pytest.fixture
def suite_file(tmp_path):
    path = tmp_path / "g.toml"
    path.write_text(textwrap.dedent(SUITE))
    return path


def test_grid_expansion_labels_and_precedence(suite_file):
    tasks = expand(load_checked_suite(suite_file))
    # ppo: 2 lr x 2 clip, vanilla: 2 lr, ppo_soft: 4; x 2 envs x 2 seeds
    assert len(tasks) == (4 + 2 + 4) * 2 * 2
    assert len({t.run_id for t in tasks}) == len(tasks)
    labels = {t.label for t in tasks}
    assert "ppo[update.lr=0.001,update.clip=0.1]" in labels
    assert "vanilla[update.lr=0.0003]" in labels
    assert "ppo_soft[update.lr=0.0003,update.clip=0.3]" in labels
    soft = next(t for t in tasks if t.label.startswith("ppo_soft") and t.env == "Hopper-v5")
    assert soft.cfg.policy.std_param == "softplus" and soft.cfg.update.epochs == 4  # variant > algo
    assert soft.cfg.sampler.gamma == 0.98 and soft.cfg.sampler.num_envs == 2  # env, suite
    assert soft.grid == {"update.lr": soft.cfg.update.lr, "update.clip": soft.cfg.update.clip}
    plain = next(t for t in tasks if t.algo == "ppo" and t.label.startswith("ppo["))
    assert plain.cfg.update.epochs == 3 and plain.cfg.policy.std_param == "log"
    cli = expand(
        load_checked_suite(suite_file), cli_overrides={"update.lr": "0.5", "eval.every": "2"}
    )
    assert all(t.cfg.update.lr == 0.5 and t.cfg.eval.every == 2 for t in cli)  # --set wins


def test_narrowing_by_algo_label_env_seed_and_steps(suite_file):
    suite = load_checked_suite(suite_file)
    only_soft = expand(suite, algos=["ppo_soft"], envs=["Hopper-v5"], seeds=[7], steps=512)
    assert len(only_soft) == 4
    assert {t.seed for t in only_soft} == {7} and {t.env for t in only_soft} == {"Hopper-v5"}
    assert all(t.cfg.total_steps == 512 for t in only_soft)
    assert len(expand(suite, algos=["ppo"])) == 8 * 2 * 2  # the algorithm also selects its variants
    assert pick_seeds((0, 1), None, 4) == [0, 1, 2, 3]
    assert pick_seeds((5, 9), None, 1) == [5] and pick_seeds((0,), [3, 4], None) == [3, 4]
    with pytest.raises(ConfigError, match="did you mean ppo"):
        expand(suite, algos=["ppp"])
    with pytest.raises(ConfigError, match="Hopper-v5"):
        expand(suite, envs=["Hoper-v5"])


def test_bad_grid_and_override_keys_fail_before_anything_runs(tmp_path):
    base = 'envs = ["InvertedPendulum-v5"]\nalgos = ["ppo", "vanilla"]\nsteps = 512\n'
    for extra, expected in [
        ('[grid]\n"update.clipp" = [1]', "no algorithm of the suite has this key"),
        ('[algo_overrides.vanilla]\n"update.clip" = 0.1', "unknown config key 'update.clip'"),
        ('[grid.vanilla]\n"update.lr" = [-1.0]', "must be positive"),
    ]:
        path = tmp_path / "bad.toml"
        path.write_text(base + extra)
        with pytest.raises(ConfigError, match=expected):
            expand(load_checked_suite(path))


def test_identical_grid_points_run_once_with_aliases(tmp_path):
    path = tmp_path / "d.toml"
    path.write_text(
        'envs = ["InvertedPendulum-v5"]\nalgos = ["ppo"]\nsteps = 512\n'
        '[variants.same]\nalgo = "ppo"\n'
    )
    tasks = expand(load_checked_suite(path))
    assert len(tasks) == 1 and tasks[0].aliases == ["same"]


def test_config_hash_excludes_the_seed_and_covers_every_override():
    base = resolve_config("ppo", "Hopper-v5", 0, 1024)
    assert config_hash(resolve_config("ppo", "Hopper-v5", 5, 1024)) == config_hash(base)
    assert run_id(resolve_config("ppo", "Hopper-v5", 5, 1024)) != run_id(base)
    hashes = {config_hash(base)}
    for key, value in [
        ("update.lr", 1e-4),
        ("sampler.gamma", 0.98),
        ("policy.init_std", 0.5),
        ("value.epochs", 3),
        ("eval.episodes", 2),
        ("policy.hidden_sizes", [32]),
    ]:
        hashes.add(config_hash(resolve_config("ppo", "Hopper-v5", 0, 1024, {key: value})))
    hashes.add(config_hash(resolve_config("ppo", "Hopper-v5", 0, 2048)))
    hashes.add(config_hash(resolve_config("ppo", "Walker2d-v5", 0, 1024)))
    assert len(hashes) == 9  # every change gives a new run id: no dir can hold another config


def test_wandb_settings_do_not_change_run_identity(suite_file):
    plain = expand(load_checked_suite(suite_file))
    tracked = expand(
        load_checked_suite(suite_file),
        cli_overrides={"wandb.project": "x", "wandb.mode": "offline"},
    )
    assert [t.run_id for t in plain] == [t.run_id for t in tracked]


def fake_run_files(run_dir: Path, iterations: int) -> None:
    """The metrics.parquet and policy.pt of a complete run (harness/tracking/integrity.py checks)."""
    rows = pd.DataFrame({"iteration": range(iterations)})  # every iteration's row
    rows.to_parquet(run_dir / "metrics.parquet", index=False)
    with zipfile.ZipFile(run_dir / "policy.pt", "w") as policy:
        policy.writestr("data.pkl", b"")


def test_dry_run_lists_the_grid_and_the_work_left(suite_file, tmp_path, capsys):
    out = tmp_path / "out"
    args = [
        "--suite",
        str(suite_file),
        "--algos",
        "vanilla",
        "--envs",
        "Hopper-v5",
        "--out",
        str(out),
    ]
    assert main([*args, "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert text.count("  new  ") == 4 and "work left: 4 runs, 4,096 env steps" in text
    task = expand(load_checked_suite(suite_file), algos=["vanilla"], envs=["Hopper-v5"], seeds=[0])[
        0
    ]
    (out / task.run_id).mkdir(parents=True)
    (out / task.run_id / "config.json").write_text(json.dumps(config_record(task.cfg)))
    (out / task.run_id / "meta.json").write_text(json.dumps({"status": "complete"}))
    assert main([*args, "--dry-run"]) == 0  # "complete" without its rows: corrupt, redone
    assert "corrupt   vanilla[update.lr=0.001]" in capsys.readouterr().out
    fake_run_files(out / task.run_id, task.env_steps // 256)
    assert main([*args, "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert "complete  vanilla[update.lr=0.001]" in text and "work left: 3 runs" in text
    assert not any(p.name != task.run_id for p in out.iterdir())  # a dry run writes nothing


def test_a_folder_holding_another_config_is_refused_untouched(suite_file, tmp_path, capsys):
    out = tmp_path / "out"
    task = expand(load_checked_suite(suite_file), algos=["vanilla"], envs=["Hopper-v5"], seeds=[0])[
        0
    ]
    forged = dict(config_record(task.cfg), total_steps=999)  # tampered, same folder name
    (out / task.run_id).mkdir(parents=True)
    (out / task.run_id / "config.json").write_text(json.dumps(forged))
    before = (out / task.run_id / "config.json").read_bytes()
    rc = main(["--suite", str(suite_file), "--out", str(out), "--wandb", "disabled"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "holds a different config" in err[0]
    assert (out / task.run_id / "config.json").read_bytes() == before
    assert [p.name for p in out.iterdir()] == [task.run_id]


def test_a_run_recorded_before_an_option_existed_is_still_the_same_run(
    suite_file, tmp_path, capsys
):
    """docs/data holds config.json files written before `checkpoint` and `eval.sampled`
    existed; a sweep over them must skip them as complete, not refuse the folder."""
    out = tmp_path / "out"
    task = expand(load_checked_suite(suite_file), algos=["vanilla"], envs=["Hopper-v5"], seeds=[0])[
        0
    ]
    old = config_record(task.cfg)
    del old["checkpoint"], old["eval"]["sampled"]
    (out / task.run_id).mkdir(parents=True)
    (out / task.run_id / "config.json").write_text(json.dumps(old))
    (out / task.run_id / "meta.json").write_text(json.dumps({"status": "complete"}))
    fake_run_files(out / task.run_id, task.env_steps // 256)
    args = ["--suite", str(suite_file), "--algos", "vanilla", "--envs", "Hopper-v5"]
    assert main([*args, "--seeds", "0", "--out", str(out), "--dry-run"]) == 0
    assert "work left: 1 runs" in capsys.readouterr().out  # 2 lr arms, one complete
    old["eval"]["sampled"] = True  # a neutral field at another value is another experiment
    (out / task.run_id / "config.json").write_text(json.dumps(old))
    assert main([*args, "--seeds", "0", "--out", str(out), "--dry-run"]) == 2


@pytest.mark.parametrize(
    "args,expected",
    [
        (["--suite", "quickstrat"], "did you mean quickstart"),
        (["--suite", "quickstart", "--algos", "ppp"], "did you mean ppo"),
        (["--suite", "quickstart", "--envs", "Hopper-v4"], "did you mean Hopper-v5"),
        (["--suite", "quickstart", "--set", "update.lrr=1"], "unknown config key"),
        (["--suite", "quickstart", "--set", "wandb.projekt=x"], "unknown config key"),
        (["--suite", "quickstart", "--backend", "ray"], "invalid choice: 'ray'"),
        (["--suite", "quickstart", "--seeds", "0,x"], "expected integers"),
        (["--suite", "quickstart", "--jobs", "0"], "positive integer"),
        (["--suite", "quickstart", "--scheduler", "tcp://h:1", "--backend", "loky"], "needs"),
        (["--suite", "nowhere/x.toml"], "suite file not found"),
    ],
)
def test_bad_flags_one_line_exit_2(args, expected, tmp_path, capsys):
    assert main([*args, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and expected in err[0], err
    assert not (tmp_path / "o").exists()


def test_a_scheduler_that_does_not_answer_is_a_clear_error(
    suite_file, tmp_path, capsys, monkeypatch
):
    monkeypatch.setattr(dispatch, "DASK_TIMEOUT_S", 2)
    rc = main(
        [
            "--suite",
            str(suite_file),
            "--algos",
            "vanilla",
            "--envs",
            "Hopper-v5",
            "--scheduler",
            "tcp://127.0.0.1:9",
            "--wandb",
            "disabled",
            "--out",
            str(tmp_path / "o"),
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "no dask scheduler answered within 2 s" in err[0]
    assert not (tmp_path / "o").exists()


def test_a_broken_wandb_is_logged_once_and_never_raises(tmp_path, monkeypatch, caplog):
    import wandb
    from npgbench.harness.tracking.wandb_mirror import WandbMirror, attempt_id, resolve_mode

    def broken_init(**kwargs):
        raise RuntimeError("no network")

    monkeypatch.setattr(wandb, "init", broken_init)
    mirror = WandbMirror("ppo__Hopper-v5__s0__abcd", tmp_path, {}, "online", "p", "g", "ppo")
    mirror.on_row({"step": 1, "return_mean": 2.0})
    mirror.finish({"status": "complete"})
    warnings = [r for r in caplog.records if r.name == "npgbench.wandb"]
    assert len(warnings) == 1 and "no network" in warnings[0].getMessage()
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "missing"))
    assert resolve_mode("auto") == "offline" and resolve_mode("disabled") == "disabled"
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    assert resolve_mode("auto") == "online"
    assert attempt_id("a/b.c" * 30).replace("-", "").replace("_", "").isalnum()
    assert len(attempt_id("a" * 200)) <= 64 and attempt_id("a") != attempt_id("a")


def test_a_dead_worker_is_one_line_and_exit_1(suite_file, tmp_path, capsys, monkeypatch):
    """A worker killed by the OS (loky: TerminatedWorkerError) ends the sweep with a
    one-line message and exit 1, never a traceback; a rerun resumes."""
    import npgbench.harness.sweep.execute as sweep_run

    def dying(jobs, backend, n_jobs, **options):
        raise RuntimeError("A worker process managed by the executor was unexpectedly terminated")
        yield  # a generator, like the real execute

    monkeypatch.setattr(sweep_run, "execute", dying)
    args = ["--suite", str(suite_file), "--algos", "vanilla", "--envs", "Hopper-v5"]
    assert main([*args, "--out", str(tmp_path / "out"), "--wandb", "disabled"]) == 1
    err = capsys.readouterr().err
    assert "a worker died (RuntimeError" in err and "rerun the same command" in err
    assert "Traceback" not in err


def _one_job(suite_file, tmp_path):
    from npgbench.harness.sweep.jobs import make_jobs

    suite = load_checked_suite(suite_file)
    task = expand(suite, algos=["vanilla"], envs=["Hopper-v5"], seeds=[0])[0]
    wandb = {"mode": "disabled", "project": "p", "group": "g"}
    return make_jobs(suite, [task], tmp_path / "out", wandb)[0]


def test_the_worker_refuses_a_held_run_and_a_foreign_run_id(suite_file, tmp_path):
    from npgbench.harness.tracking.run_dir import lock_run

    job = _one_job(suite_file, tmp_path)
    held = lock_run(tmp_path / "out" / job.run_id)  # another live process trains it
    try:
        assert dispatch.run_task(job).status == RunStatus.BUSY == "busy"
    finally:
        held.close()
    foreign = dataclasses.replace(job, run_id=job.run_id[:-8] + "deadbeef")  # other code
    result = dispatch.run_task(foreign)
    assert (
        result.status == RunStatus.FAILED and "install the same npg-bench version" in result.error
    )
    assert not (tmp_path / "out" / foreign.run_id).exists()


def test_a_dead_worker_is_recorded_in_meta_json_with_its_signal(suite_file, tmp_path):
    from joblib.externals.loky.process_executor import TerminatedWorkerError
    from npgbench.harness.sweep.jobs import record_worker_death
    from npgbench.harness.sweep.pool import _death_reason
    from npgbench.harness.tracking.run_dir import read_json

    loky_says = TerminatedWorkerError(
        "A worker process managed by the executor was unexpectedly terminated.\n"
        "The exit codes of the workers are {SIGKILL(-9)}"
    )
    assert _death_reason(loky_says) == "worker died (signal 9, SIGKILL)"
    assert _death_reason(TerminatedWorkerError("... are {EXIT(3)}")) == "worker died (exit code 3)"
    job = _one_job(suite_file, tmp_path)
    result = record_worker_death(job, _death_reason(loky_says))
    meta = read_json(job.run_dir / "meta.json")
    assert result.status == meta["status"] == "failed"
    assert (
        meta["error"] == "worker died (signal 9, SIGKILL)"
        and meta["label"] == "vanilla[update.lr=0.001]"
    )
    assert meta["run_id"] == job.run_id and meta["seed"] == 0
