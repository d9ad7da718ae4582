"""A short stand-in training script: logs one run with the wandb-compatible API into ./evlog/."""
import math
import random

import eventlog as wandb

run = wandb.init(project="demo", config={"lr": 0.01, "epochs": 3, "batch_size": 32}, mode="offline")
for epoch in range(run.config.epochs):
    for i in range(100):
        step = epoch * 100 + i
        loss = math.exp(-step / 80) + random.random() * 0.05
        wandb.log({"loss": loss, "accuracy": 1 - loss / 2, "epoch": epoch})
run.summary["best_loss"] = min(run.summary["loss"], 1.0)
run.finish()
print(f"run {run.name} ({run.id}) stored in {run.dir}")
