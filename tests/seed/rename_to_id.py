import eventlog as wandb
wandb.init()
wandb.run.name = wandb.run.id
wandb.run.save()
