"""Environment variables and their precedence, id validation and generation, names, and remote
URLs with credentials stripped (issue 3)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from eventlog import names
from eventlog.runapi import settings
from eventlog.errors import ArgumentTypeError, UsageError
from eventlog.capture.sysinfo import strip_credentials
from support.run import records


# ------------------------------------------------------------------- precedence
@pytest.mark.parametrize("setting, arg, evlog, wandb, default", [
    ("project", "arg-p", "evlog-p", "wandb-p", None),
    ("entity", "arg-e", "evlog-e", "wandb-e", None),
    ("name", "arg name", "evlog name", "wandb name", None),
    ("notes", "arg notes", "evlog notes", "wandb notes", None),
    ("group", "arg-g", "evlog-g", "wandb-g", None),
    ("job_type", "eval", "worker", "ps", "train"),
    ("id", "argid", "evlogid", "wandbid", None),
    ("resume", "must", "allow", "never", None),
    ("mode", "disabled", "dryrun", "online", "online"),
])
def test_argument_beats_evlog_beats_wandb_beats_default(setting, arg, evlog, wandb, default):
    var = settings.ENV_NAMES[setting]
    both = {f"EVLOG_{var}": evlog, f"WANDB_{var}": wandb}
    assert getattr(settings.resolve({setting: arg}, both), setting if setting != "mode" else "mode_requested") == arg
    got = lambda env: getattr(settings.resolve({}, env), setting if setting != "mode" else "mode_requested")  # noqa: E731
    assert got(both) == evlog
    assert got({f"WANDB_{var}": wandb}) == wandb
    assert got({}) == default
    assert got({f"EVLOG_{var}": "", f"WANDB_{var}": wandb}) == wandb, "an empty variable counts as unset"


def test_tags_dir_and_flags_from_the_environment(tmp_path):
    s = settings.resolve({}, {"EVLOG_TAGS": "a, b,,c", "WANDB_TAGS": "z", "EVLOG_DIR": str(tmp_path),
                              "WANDB_DISABLE_CODE": "true", "EVLOG_SILENT": "1", "EVLOG_DISABLE_GIT": "yes"})
    assert s.tags == ("a", "b", "c") and s.dir == str(tmp_path)
    assert s.save_code is False and s.silent is True and s.disable_git is True
    assert settings.resolve({"tags": ["x"]}, {"EVLOG_TAGS": "a"}).tags == ("x",)
    # argument beats the environment for save_code too, EVLOG_ beats WANDB_
    assert settings.resolve({"save_code": True}, {"EVLOG_DISABLE_CODE": "true"}).save_code is True
    assert settings.resolve({}, {"EVLOG_DISABLE_CODE": "false", "WANDB_DISABLE_CODE": "true"}).save_code is True
    assert settings.resolve({}, {}).save_code is True
    assert settings.resolve({}, {"WANDB_MODE": "dryrun"}).mode == "offline"


@pytest.mark.parametrize("env, var", [
    ({"EVLOG_MODE": "cloud"}, "EVLOG_MODE"),
    ({"WANDB_MODE": "cloud"}, "WANDB_MODE"),
    ({"EVLOG_SILENT": "perhaps"}, "EVLOG_SILENT"),
    ({"WANDB_DISABLE_CODE": "2"}, "WANDB_DISABLE_CODE"),
    ({"EVLOG_RUN_ID": "bad/id"}, "EVLOG_RUN_ID"),
    ({"EVLOG_PROJECT": "a b"}, "EVLOG_PROJECT"),
    ({"EVLOG_FINISH_TIMEOUT": "soon"}, "EVLOG_FINISH_TIMEOUT"),
    ({"EVLOG_RESUME": "bad value!"}, "EVLOG_RESUME"),
])
def test_a_bad_environment_variable_is_named(env, var):
    with pytest.raises(UsageError, match=var):
        settings.resolve({}, env)


def test_environment_reaches_the_run_record(ev, monkeypatch, tmp_path):
    monkeypatch.setenv("WANDB_PROJECT", "from-wandb")
    monkeypatch.setenv("EVLOG_PROJECT", "from-evlog")
    monkeypatch.setenv("WANDB_NAME", "wandb-name")
    monkeypatch.setenv("EVLOG_TAGS", "t1,t2")
    monkeypatch.setenv("WANDB_RUN_GROUP", "grp")
    monkeypatch.setenv("WANDB_JOB_TYPE", "eval")
    monkeypatch.setenv("WANDB_RUN_ID", "fromenv1")
    monkeypatch.setenv("EVLOG_DIR", str(tmp_path / "elsewhere"))
    run = ev.init(group="arg-group")
    run.finish()
    assert Path(run.dir).parent == tmp_path / "elsewhere" / "evlog"
    body = records(run.dir)[0].body
    assert (body["project"], body["name"], body["tags"], body["group"], body["job_type"], body["id"]) == (
        "from-evlog", "wandb-name", ["t1", "t2"], "arg-group", "eval", "fromenv1")


# ---------------------------------------------------------------------------- ids
def test_generated_ids_are_8_lowercase_letters_and_digits():
    ids = {names.generate_id() for _ in range(2000)}
    assert len(ids) == 2000
    assert all(re.fullmatch(r"[a-z0-9]{8}", i) for i in ids)
    assert set("".join(ids)) == set(names.ID_ALPHABET), "every character of the alphabet is used"


@pytest.mark.parametrize("good", ["abc", "A-b_c.9", "x" * 64, "qvlp96vk", "1"])
def test_valid_user_ids(good):
    assert names.check_id(good) == good


@pytest.mark.parametrize("bad, error, words", [
    ("", UsageError, ["empty"]),
    ("x" * 65, UsageError, ["65", "64"]),
    ("a b", UsageError, ["' '"]),
    ("a/b", UsageError, ["'/'"]),
    ("ü-run", UsageError, ["'ü'"]),
    ("run:1", UsageError, ["':'"]),
    (123, ArgumentTypeError, ["int"]),
    (None, ArgumentTypeError, ["NoneType"]),
])
def test_invalid_user_ids_are_refused_with_the_reason(bad, error, words):
    with pytest.raises(error) as info:
        names.check_id(bad)
    for w in words + ["id"]:
        assert w in str(info.value)


def test_init_with_a_bad_id_creates_nothing(ev):
    with pytest.raises(UsageError, match="run id"):
        ev.init(id="../escape")
    assert not (Path.cwd() / "evlog").exists()


def test_generated_names_are_adjective_noun_number(ev):
    assert re.fullmatch(r"[a-z]+-[a-z]+-7", names.generate_name(7))
    first = ev.init()
    first.finish()
    second = ev.init()
    second.finish()
    assert first.name.endswith("-1") and second.name.endswith("-2")


# ----------------------------------------------------------------- credentials
@pytest.mark.parametrize("url, expected", [
    ("https://user:s3cret@github.com/org/repo.git", "https://github.com/org/repo.git"),
    ("https://ghp_TOKEN123@github.com/org/repo.git", "https://github.com/org/repo.git"),
    ("https://oauth2:glpat-XYZ@gitlab.com:8443/org/repo.git", "https://gitlab.com:8443/org/repo.git"),
    ("http://u:p@host/repo?access_token=abc#frag", "http://host/repo"),
    ("ssh://git:pw@host.example/org/repo.git", "ssh://host.example/org/repo.git"),
    ("ssh://git@host.example/org/repo.git", "ssh://git@host.example/org/repo.git"),
    ("git@github.com:org/repo.git", "git@github.com:org/repo.git"),
    ("deploy:hunter2@host:org/repo.git", "deploy@host:org/repo.git"),
    ("https://github.com/org/repo.git", "https://github.com/org/repo.git"),
    ("/srv/git/repo.git", "/srv/git/repo.git"),
])
def test_credentials_are_stripped_from_remote_urls(url, expected):
    got = strip_credentials(url)
    assert got == expected
    for secret in ("s3cret", "TOKEN123", "glpat", "hunter2", "abc", ":pw@"):
        assert secret not in got


def test_a_user_id_names_one_run(ev):
    first = ev.init(id="same-id")
    first.finish()
    with pytest.raises(UsageError, match="already used"):
        ev.init(id="same-id")
    assert len(list((Path.cwd() / "evlog").glob("run-*"))) == 1
