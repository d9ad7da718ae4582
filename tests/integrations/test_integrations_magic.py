"""init(magic=...) (issue 8, part 3): argparse (before and after init()) and absl flags land in the
config, TensorBoard writers are synced, the switches come from a bool, dict, JSON string or YAML
file, and unknown keys are an error that lists the known ones."""
from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest

from support.run import config_from_log, of_type, records, run_folders, run_script, scrubbed_env


def run_program(tmp_path, code: str, *args: str):
    script = tmp_path / "prog.py"
    script.write_text(textwrap.dedent(code))
    res = run_script(script, tmp_path, scrubbed_env(tmp_path, EVLOG_MODE="offline", EVLOG_DISABLE_GIT="true"),
                     args=args)
    assert res.returncode == 0, res.stderr
    folders = run_folders(tmp_path)
    return (records(folders[0]) if len(folders) == 1 else [records(f) for f in folders]), res


def test_argparse_before_and_after_init_land_in_config(tmp_path):
    recs, _ = run_program(tmp_path, """
        import argparse
        import eventlog as wandb

        parser = argparse.ArgumentParser()
        parser.add_argument("--lr", type=float, default=0.1)
        parser.add_argument("--layers", type=int, nargs="+", default=[1])
        parser.add_argument("--out", type=argparse.FileType("w"), default="-")
        args = parser.parse_args()                       # before init(): found in __main__

        def main():
            run = wandb.init(magic=True)
            late = argparse.ArgumentParser()
            late.add_argument("--epochs", type=int, default=3)
            late.parse_known_args(["--epochs", "7", "--unknown"])   # after init(): patched
            run.finish()

        main()
    """, "--lr", "0.5", "--layers", "4", "8")
    cfg = config_from_log(recs)
    assert cfg["lr"] == 0.5 and cfg["layers"] == [4, 8] and cfg["epochs"] == 7
    assert isinstance(cfg["out"], str)  # a file object is stored as its text, never an error


def test_namespace_in_the_calling_function_and_argparse_switched_off(tmp_path):
    recs, _ = run_program(tmp_path, """
        import argparse
        import eventlog

        def train():
            p = argparse.ArgumentParser()
            p.add_argument("--batch", type=int, default=32)
            args = p.parse_args([])
            run = eventlog.init(magic=True)
            run.finish()
            off = eventlog.init(magic={"argparse": False})
            p.parse_args(["--batch", "64"])
            off.finish()

        train()
    """)
    first, second = sorted(recs, key=lambda rs: rs[0].body["start_time"])
    assert config_from_log(first) == {"batch": 32}
    assert config_from_log(second) == {}  # argparse switched off: the later parse is not taken


def test_absl_flags_of_the_main_module_land_in_config(tmp_path):
    pytest.importorskip("absl.flags")
    recs, _ = run_program(tmp_path, """
        from absl import app, flags
        import eventlog

        flags.DEFINE_integer("epochs", 3, "epochs")
        flags.DEFINE_string("optimizer", "sgd", "optimizer")

        def main(argv):
            run = eventlog.init(magic=True)
            run.finish()

        app.run(main)
    """, "--epochs", "9")
    cfg = config_from_log(recs)
    assert cfg["epochs"] == 9 and cfg["optimizer"] == "sgd"
    assert "logtostderr" not in cfg and "verbosity" not in cfg  # absl's own flags are not the program's


def test_absl_flags_parsed_after_init(tmp_path):
    pytest.importorskip("absl.flags")
    recs, _ = run_program(tmp_path, """
        import sys
        import eventlog
        run = eventlog.init(magic={"absl": True})
        from absl import flags
        flags.DEFINE_float("dropout", 0.1, "dropout")
        flags.FLAGS(sys.argv)
        run.finish()
    """, "--dropout", "0.3")
    assert config_from_log(recs)["dropout"] == 0.3


def test_magic_syncs_tensorboard_writers_unless_switched_off(ev, tmp_path):
    tbx = pytest.importorskip("tensorboardX")
    run = ev.init(magic=True)
    w = tbx.SummaryWriter(str(tmp_path / "tb"))
    w.add_scalar("loss", 0.25, 4)
    w.close()
    run.finish()
    assert [(r.body["step"], r.body["data"]) for r in of_type(records(run.dir), "history")] == [(4, {"loss": 0.25})]

    run = ev.init(magic=json.dumps({"tensorboard": False}))
    w = tbx.SummaryWriter(str(tmp_path / "tb2"))
    w.add_scalar("loss", 0.25, 4)
    w.close()
    run.finish()
    assert of_type(records(run.dir), "history") == []


@pytest.mark.parametrize("magic, error, words", [
    ({"keras": True}, "UsageError", ["'keras'", "argparse, absl, tensorboard, gym"]),
    ('{"argparse": true, "bogus": 1}', "UsageError", ["'bogus'", "known keys are argparse"]),
    ({"argparse": "yes"}, "ArgumentTypeError", ["'argparse'", "true or false"]),
    ("magic.yaml", "UsageError", ["'nope'", "known keys"]),
    ("list.yaml", "UsageError", ["mapping of switches", "magic="]),
])
def test_bad_magic_fails_init_before_anything_is_written(ev, tmp_path, magic, error, words):
    (tmp_path / "work" / "magic.yaml").write_text("argparse: true\nnope: false\n")
    (tmp_path / "work" / "list.yaml").write_text("- argparse\n")
    with pytest.raises(getattr(ev, error)) as info:
        ev.init(magic=magic)
    for w in words:
        assert w in str(info.value), str(info.value)
    assert run_folders(Path.cwd()) == []


def test_magic_yaml_file_and_the_record(ev, tmp_path):
    from eventlog.integrations.magic import SWITCHES, parse

    (Path.cwd() / "m.yml").write_text("gym: false\ntensorboard: false\n")
    run = ev.init(magic="m.yml")
    run.finish()
    assert records(run.dir)[0].body["settings"]["magic"] == "m.yml"
    assert parse("m.yml") == {**SWITCHES, "gym": False, "tensorboard": False}
    assert parse(True) == SWITCHES and parse(False) == {} and parse(None) == {}


def test_patched_argparse_is_transparent(tmp_path):
    """The patch returns exactly what argparse returns, with no run, and errors stay argparse's."""
    recs, res = run_program(tmp_path, """
        import argparse, sys
        import eventlog
        run = eventlog.init(magic=True)
        run.finish()
        p = argparse.ArgumentParser()
        p.add_argument("--n", type=int, required=True)
        ns, rest = p.parse_known_args(["--n", "3", "x"])
        assert (ns.n, rest) == (3, ["x"]), (ns, rest)
        try:
            p.parse_args([])
        except SystemExit as exc:
            print("exit", exc.code)
    """)
    assert "exit 2" in res.stdout
