"""monitor_gym=True (issue 8, part 4): the mp4 files Gymnasium's RecordVideo writes, from a real
environment rendering rgb_array, are logged as eventlog.Video under `videos/<folder>` at the
run's current step."""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from support.run import of_type, records

gym = pytest.importorskip("gymnasium")
pytest.importorskip("moviepy")
pytest.importorskip("pygame")


def rows(folder):
    return [(r.body["step"], r.body["data"]) for r in of_type(records(folder), "history")]


def play(run, env, episodes: int):
    """Random actions; after each episode: reset (which writes that episode's video), then log."""
    env.reset(seed=0)
    env.action_space.seed(0)
    lengths = []
    n = 0
    while len(lengths) < episodes:
        _, _, term, trunc, _ = env.step(env.action_space.sample())
        n += 1
        if term or trunc:
            lengths.append(n)
            env.reset()
            run.log({"episode": len(lengths) - 1, "length": n})
            n = 0
    return lengths


def make_env(folder, trigger):
    env = gym.make("CartPole-v1", render_mode="rgb_array")
    return gym.wrappers.RecordVideo(env, str(folder), episode_trigger=trigger, disable_logger=True)


def test_record_video_mp4s_are_logged_at_the_step_they_were_written(ev, tmp_path, monkeypatch):
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    run = ev.init(monitor_gym=True)
    folder = tmp_path / "videos" / "cartpole"
    env = make_env(folder, lambda e: e in (0, 1))
    lengths = play(run, env, 3)
    env.close()
    run.finish()
    got = rows(run.dir)
    assert [d["length"] for _, d in got] == lengths
    with_video = [(s, d) for s, d in got if "videos/cartpole" in d]
    assert [d["episode"] for _, d in with_video] == [0, 1]  # episode 2 was not recorded
    for _, d in with_video:
        v = d["videos/cartpole"]
        assert (v["_type"], v["format"], v["width"], v["height"]) == ("video", "mp4", 600, 400)
        assert v["frames"] == lengths[d["episode"]] + 1  # the frame of reset() and one per step
        src = folder / f"rl-video-episode-{d['episode']}.mp4"
        assert hashlib.sha256(src.read_bytes()).hexdigest() == v["sha256"]
        assert (Path(run.dir) / v["path"]).read_bytes() == src.read_bytes()
    media = [e for r in of_type(records(run.dir), "files") for e in r.body["files"] if e["kind"] == "media"]
    assert len(media) == 2


def test_two_videos_in_one_step_do_not_overwrite_each_other(ev, tmp_path, monkeypatch):
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    run = ev.init(monitor_gym=True)
    env = make_env(tmp_path / "vids", lambda e: True)
    env.reset(seed=1)
    env.step(0)
    env.reset()  # writes episode 0
    env.step(1)
    env.step(1)
    env.reset()  # writes episode 1, in the same step of the run
    env.close()  # writes episode 2 (one frame)
    run.finish()
    videos = [(s, d["videos/vids"]["frames"]) for s, d in rows(run.dir)]
    assert videos == [(0, 2), (1, 3), (2, 1)]


def test_without_monitor_gym_nothing_is_logged(ev, tmp_path, monkeypatch):
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    run = ev.init()
    env = make_env(tmp_path / "quiet", lambda e: True)
    env.reset(seed=0)
    env.step(0)
    env.close()
    run.finish()
    assert (tmp_path / "quiet" / "rl-video-episode-0.mp4").is_file()
    assert rows(run.dir) == [] and not (Path(run.dir) / "media").exists()


OLD_RECORDER = '''
import os, shutil


class VideoRecorder:
    """The shape of gym 0.26's VideoRecorder: close() writes self.path once."""

    def __init__(self, env, path, source):
        self.path, self.source, self.enabled, self._closed, self.broken = path, source, True, False, False
        self.frames_per_sec = 30

    def close(self):
        if not self.enabled or self._closed:
            return
        shutil.copyfile(self.source, self.path)
        self._closed = True
'''


def test_the_older_gym_video_recorder_is_patched_when_imported(ev, tmp_path, monkeypatch):
    """gym (and gymnasium 0.x) write videos in VideoRecorder.close(); a stand-in module of that shape,
    imported after init(), is patched on import."""
    import sys

    import numpy as np

    pkg = tmp_path / "site" / "gym" / "wrappers" / "monitoring"
    pkg.mkdir(parents=True)
    for d in (pkg.parent.parent, pkg.parent, pkg):
        (d / "__init__.py").write_text("")
    (pkg / "video_recorder.py").write_text(OLD_RECORDER)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    for name in [m for m in sys.modules if m == "gym" or m.startswith("gym.")]:
        monkeypatch.delitem(sys.modules, name)
    run = ev.init(monitor_gym=True)
    run.log({"warmup": 1.0})
    src = tmp_path / "clip.gif"
    run.log({"made": ev.Video(np.zeros((3, 3, 8, 8), np.uint8))})  # a GIF to stand for the recording
    gif = next((Path(run.dir) / "media").iterdir())
    src.write_bytes(gif.read_bytes())
    from gym.wrappers.monitoring.video_recorder import VideoRecorder

    out = tmp_path / "old-videos" / "video.000000.gif"
    out.parent.mkdir()
    rec = VideoRecorder(None, str(out), str(src))
    rec.close()
    rec.close()  # a second close writes nothing: logged once
    run.finish()
    got = [(s, d) for s, d in rows(run.dir) if "videos/old-videos" in d]
    assert len(got) == 1 and got[0][0] == 2
    assert got[0][1]["videos/old-videos"]["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
