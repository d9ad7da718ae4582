"""Lightning's WandbLogger, unmodified, on evlog: argv[1] the save dir, argv[2] a variant
("default", "log_model", "watch", "media")."""
import eventlog.compat.wandb  # noqa: F401  (the one documented line)

import sys

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import WandbLogger

save_dir, variant = sys.argv[1], sys.argv[2]
torch.manual_seed(0)


class Tiny(L.LightningModule):
    def __init__(self, lr=0.05, hidden=4):
        super().__init__()
        self.save_hyperparameters()
        self.net = torch.nn.Sequential(torch.nn.Linear(3, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 1))

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, i):
        x, y = batch
        loss = torch.nn.functional.mse_loss(self(x), y)  # through forward: watch's parameter hook sees it
        self.log("train/loss", loss)
        return loss

    def validation_step(self, batch, i):
        x, y = batch
        self.log("val/loss", torch.nn.functional.mse_loss(self.net(x), y))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)


x = torch.randn(32, 3)
data = torch.utils.data.TensorDataset(x, x.sum(1, keepdim=True))
loader = torch.utils.data.DataLoader(data, batch_size=8)
logger = WandbLogger(project="lightning-demo", save_dir=save_dir, log_model=(variant == "log_model"))
model = Tiny()
callbacks = [ModelCheckpoint(dirpath=f"{save_dir}/ckpt", monitor="val/loss", save_top_k=1)] \
    if variant == "log_model" else []
if variant == "watch":
    logger.watch(model, log="all", log_freq=2)
trainer = L.Trainer(max_epochs=3, logger=logger, accelerator="cpu", devices=1, log_every_n_steps=1,
                    enable_checkpointing=variant == "log_model", callbacks=callbacks, enable_progress_bar=False,
                    enable_model_summary=False)
trainer.fit(model, loader, loader)
if variant == "media":
    img = (np.arange(8 * 8 * 3) % 255).astype("uint8").reshape(8, 8, 3)
    logger.log_image(key="samples", images=[img, img[::-1]], caption=["a", "b"])
    import wandb

    logger.log_table(key="preds", columns=["id", "image", "score"], data=[[0, wandb.Image(img), 0.5],
                                                                         [1, wandb.Image(img[::-1]), 0.25]])
print("RUN", logger.experiment.id)
