"""Artifacts: versioned, content-addressed sets of files a run logs or uses (wandb.Artifact)."""
