"""optuna-integration's WeightsAndBiasesCallback, unmodified, on evlog: argv[1] "single" or "multirun"."""
import eventlog.compat.wandb  # noqa: F401  (the one documented line)

import sys

import optuna
from optuna_integration.wandb import WeightsAndBiasesCallback

optuna.logging.set_verbosity(optuna.logging.WARNING)
multirun = sys.argv[1] == "multirun"
cb = WeightsAndBiasesCallback(metric_name="loss", wandb_kwargs={"project": "optuna-demo", "tags": ["hpo"]},
                              as_multirun=multirun)


def objective(trial):
    x = trial.suggest_float("x", -10, 10)
    return (x - 2) ** 2


study = optuna.create_study(study_name="quadratic", sampler=optuna.samplers.RandomSampler(seed=3))
study.optimize(objective, n_trials=5, callbacks=[cb])
if not multirun:
    import wandb

    wandb.finish()
print("TRIALS", [[t.number, t.params["x"], t.value] for t in study.trials])
