"""The run directory and its mirrors: files, lock, checkpoints, fingerprint, final evaluation, W&B, the dataset."""
