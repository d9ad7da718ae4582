"""`wandb.env`: the environment variable names (evlog reads the WANDB_* ones as aliases of EVLOG_*)."""
from __future__ import annotations

import os

MODE = "WANDB_MODE"
PROJECT = "WANDB_PROJECT"
ENTITY = "WANDB_ENTITY"
DIR = "WANDB_DIR"
RUN_ID = "WANDB_RUN_ID"
RUN_GROUP = "WANDB_RUN_GROUP"
JOB_TYPE = "WANDB_JOB_TYPE"
NAME = "WANDB_NAME"
NOTES = "WANDB_NOTES"
TAGS = "WANDB_TAGS"
RESUME = "WANDB_RESUME"
SILENT = "WANDB_SILENT"
API_KEY = "WANDB_API_KEY"
BASE_URL = "WANDB_BASE_URL"
DISABLE_CODE = "WANDB_DISABLE_CODE"
DISABLE_GIT = "WANDB_DISABLE_GIT"
CONSOLE = "WANDB_CONSOLE"


def get_project(default=None, env=None):
    env = os.environ if env is None else env
    return env.get("EVLOG_PROJECT") or env.get(PROJECT) or default


def get_entity(default=None, env=None):
    env = os.environ if env is None else env
    return env.get("EVLOG_ENTITY") or env.get(ENTITY) or default


def set_project(value: str, env=None) -> None:
    (os.environ if env is None else env)[PROJECT] = value


def set_entity(value: str, env=None) -> None:
    (os.environ if env is None else env)[ENTITY] = value
