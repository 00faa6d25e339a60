"""A sweep: a suite planned into a grid of jobs, sharded, executed (joblib, dask, submitit), summarised."""
