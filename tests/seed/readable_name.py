import eventlog as wandb

wandb.init()
run_name = wandb.run.name
