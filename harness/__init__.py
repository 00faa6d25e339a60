"""npg-bench harness: config, envs, policy, sampler, runner, sweeps, tracking, CLI."""
