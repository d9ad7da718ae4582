"""A short stand-in training script: logs one run with the wandb-compatible API.

Online when a server and key are set (EVLOG_BASE_URL / EVLOG_API_KEY, or `evlog login`), else into
the run folder only (./evlog/), which `evlog sync` uploads later. `scripts/demo.sh` runs it both ways.
    python examples/train.py [--lr 0.01] [--epochs 3] [--name NAME]
"""
import argparse
import math
import random
import time

import eventlog as wandb

parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, default=0.01)
parser.add_argument("--epochs", type=int, default=3)
parser.add_argument("--batch-size", type=int, default=32)
parser.add_argument("--steps-per-epoch", type=int, default=200)
parser.add_argument("--name", default=None)
parser.add_argument("--delay", type=float, default=0.0, help="seconds per step (watch it live)")
args = parser.parse_args()

run = wandb.init(project="demo", name=args.name, tags=["example"], notes="examples/train.py",
                 config={"lr": args.lr, "epochs": args.epochs, "batch_size": args.batch_size})
rng = random.Random(int(args.lr * 1e6))
speed = args.lr / 0.01
for epoch in range(run.config.epochs):
    for i in range(args.steps_per_epoch):
        step = epoch * args.steps_per_epoch + i
        loss = math.exp(-step * speed / 150) + 0.05 + rng.random() * 0.05
        metrics = {"loss": loss, "accuracy": 1 - loss / 2, "epoch": epoch,
                   "lr": args.lr * 0.5 * (1 + math.cos(math.pi * step / (args.epochs * args.steps_per_epoch)))}
        if i == args.steps_per_epoch - 1:  # end of the epoch: a validation pass
            metrics.update({"val/loss": loss * 1.1, "val/accuracy": 1 - loss * 0.55})
        wandb.log(metrics)
        if args.delay:
            time.sleep(args.delay)
run.summary["best_loss"] = min(run.summary["loss"], 1.0)
run.finish()
print(f"run {run.name} ({run.id}) stored in {run.dir}" + (f", {run.url}" if run.url else ""))
