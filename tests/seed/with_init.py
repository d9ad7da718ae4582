# Not a verbatim seed sample: the `with wandb.init() as run:` style the seed's FAQ describes
# ("a Python context manager that finishes logging automatically"), with config from argparse.
import argparse

import eventlog as wandb

parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, default=0.01)
parser.add_argument("--epochs", type=int, default=5)
args = parser.parse_args()

with wandb.init(project="with-init", config=args, tags=["seed"]) as run:
    for epoch in range(wandb.config.epochs):
        run.log({"epoch": epoch, "loss": 1.0 / (epoch + 1) * wandb.config.lr})
    run.summary["final_loss"] = 1.0 / wandb.config.epochs * wandb.config.lr
