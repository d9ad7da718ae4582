"""Interop: runs brought in from other trackers (wandb, TensorBoard, MLflow) as ordinary evlog run folders.

Each importer is a module of its own; heavy packages are imported inside their functions."""
