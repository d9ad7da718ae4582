"""accelerate's Accelerator(log_with="wandb"), unmodified, on evlog."""
import eventlog.compat.wandb  # noqa: F401  (the one documented line)

import torch
from accelerate import Accelerator

acc = Accelerator(log_with="wandb", cpu=True)
acc.init_trackers("accelerate-demo", config={"lr": 0.1, "epochs": 2}, init_kwargs={"wandb": {"tags": ["acc"]}})
model = torch.nn.Linear(2, 1)
opt = torch.optim.SGD(model.parameters(), lr=0.1)
model, opt = acc.prepare(model, opt)
x = torch.randn(16, 2)
y = x.sum(1, keepdim=True)
for step in range(8):
    loss = torch.nn.functional.mse_loss(model(x), y)
    acc.backward(loss)
    opt.step()
    opt.zero_grad()
    acc.log({"train_loss": loss.item(), "lr": 0.1}, step=step)
run = acc.get_tracker("wandb", unwrap=True)
print("RUN", run.id)
acc.end_training()
