"""Videos of evaluation episodes: a top-down view around the ego above its ego view.

:func:`write_videos` picks ``K`` failures and ``K`` successes among the scored episodes
(the first by episode id), drives them again with the same agent, seed and traffic (the
baselines are deterministic, so the re-run is the same episode; for a sampling agent it is
a new sample, and the file name says the re-run's outcome) and writes one mp4 per episode:

- top: :func:`~traffic_mpc.sim.top_down.render_top_down` of the road over
  ``[x - 30 m, x + 60 m]`` at 4 px/m: logged vehicles, the ego's scene (which includes
  handed-over vehicles in reactive traffic) and the ego highlighted;
- bottom: the ego view (the agent's, or the default :class:`ViewSpec`), turned so that
  the ego drives to the right, 4x enlarged: lane markings white, vehicles red, off-road
  green, the ego blue;
- a caption: episode, time, speed, warm-up or control, and the outcome at the end.

Recording stops 1 s after the episode ends under the plain protocol.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from traffic_mpc.sim.render import EgoViewRenderer, ViewSpec
from traffic_mpc.sim.top_down import render_top_down
from traffic_mpc.video import VideoRecorder

FPS = 10.0
SCALE = 4.0  # px/m of the top-down view
WINDOW = (-30.0, 60.0)  # [m] around the ego's x
VIEW_ZOOM = 4
AFTER_END = 10  # frames recorded after the episode ends
CAPTION_HEIGHT = 18
#: RGB of each ego-view channel.
CHANNEL_COLOURS = {
    "lanes": (255, 255, 255),
    "vehicles": (230, 60, 60),
    "off_road": (40, 110, 40),
    "ego": (60, 120, 255),
}


def ego_view_rgb(view: np.ndarray, channels: tuple[str, ...], zoom: int = VIEW_ZOOM
                 ) -> np.ndarray:
    """An ego view ``(C, H, W)`` in [0, 1] as RGB ``(W * zoom, H * zoom, 3)`` uint8, turned
    so that the ego's forward direction points right and its left up."""
    height, width = view.shape[1:]
    image = np.zeros((height, width, 3), dtype=np.float32)
    for index, name in enumerate(channels):
        colour = np.asarray(CHANNEL_COLOURS.get(name, (200, 200, 200)), dtype=np.float32)
        image = np.maximum(image, view[index][..., None] * colour)
    image = image.transpose(1, 0, 2)[:, ::-1]  # rows = left..right, columns = back..front
    image = np.repeat(np.repeat(image, zoom, axis=0), zoom, axis=1)
    return np.ascontiguousarray(image.clip(0, 255).astype(np.uint8))


class EpisodeFilmer:
    """A tracer for :class:`~traffic_mpc.evaluate.evaluator.EpisodeRunner` that films the
    chosen episodes into ``folder`` (one :class:`~traffic_mpc.video.VideoRecorder` per
    episode)."""

    def __init__(self, folder: Path, episodes: dict[int, str], road, renderer: EgoViewRenderer
                 ) -> None:
        self.folder = Path(folder)
        self.wanted = episodes  # episode id -> label ("success" / "failure")
        self.road = road
        self.renderer = renderer
        self.writers: dict[int, VideoRecorder] = {}
        self.after_end: dict[int, int] = {}
        self.finished: set[int] = set()

    def __call__(self, runner, result, episodes: list[int]) -> None:
        slots = runner.slots
        for entry, episode in enumerate(episodes):
            if episode not in self.wanted or episode in self.finished:
                continue
            ended = not bool(slots.standard[entry])
            frame = self._frame(runner, entry, episode, ended, int(slots.reason[entry]))
            writer = self.writers.get(episode)
            if writer is None:
                writer = VideoRecorder(self.folder / f"episode-{episode:05d}.mp4",
                                       (frame.shape[1], frame.shape[0]), FPS)
                self.writers[episode] = writer
            repeat = 1
            if ended:
                # Frozen by the world: hold the last picture; driven on through a rear-end
                # hit: go on filming for a second.
                self.after_end[episode] = self.after_end.get(episode, 0) + 1
                if bool(runner.world.done[entry]):
                    repeat = AFTER_END
                if bool(runner.world.done[entry]) or self.after_end[episode] >= AFTER_END:
                    self.finished.add(episode)
            for _ in range(repeat):
                writer.write(frame)

    def _frame(self, runner, entry: int, episode: int, ended: bool, reason: int) -> np.ndarray:
        from traffic_mpc.sim.world import TerminationReason

        world = runner.world
        scene = world.scene().index(torch.tensor([entry], device=world.device))
        state = world.state[entry].double().cpu().numpy()
        x = float(state[0])
        window = (x + WINDOW[0], x + WINDOW[1])
        # Logged vehicles in the window, except the ego's own and those in its scene.
        traffic = world.traffic
        row = int(world.frame[entry]) - traffic.first_frame
        valid = traffic.valid[row].cpu().numpy()
        vehicle = traffic.vehicle[row].cpu().numpy()
        logged = traffic.state[row].double().cpu().numpy()
        own = int(world.vehicle_index[entry])
        seen_ids = scene.others_id[0][scene.others_valid[0]].cpu().numpy()
        seen_index = np.searchsorted(traffic.vehicle_ids.cpu().numpy(), seen_ids)
        keep = (valid & (vehicle != own) & ~np.isin(vehicle, seen_index)
                & (logged[:, 0] > window[0] - 20) & (logged[:, 0] < window[1] + 20))
        sizes = traffic.vehicle_size.cpu().numpy()[vehicle[keep]]
        others_valid = scene.others_valid[0].cpu().numpy()
        poses = np.concatenate([logged[keep, :3], scene.others_pose[0].double().cpu().numpy()[
            others_valid], state[None, :3]])
        all_sizes = np.concatenate([sizes, scene.others_size[0].double().cpu().numpy()[
            others_valid], scene.ego_size[0].double().cpu().numpy()[None]])
        speeds = np.concatenate([logged[keep, 3], scene.others_speed[0].double().cpu().numpy()[
            others_valid], state[None, 3]])
        highlight = np.zeros(len(poses), dtype=bool)
        highlight[-1] = True
        top = render_top_down(self.road, poses, all_sizes, speeds, highlight=highlight,
                              scale=SCALE, window=window)
        with torch.no_grad():
            view = self.renderer.render(scene)[0].float().cpu().numpy()
        bottom = ego_view_rgb(view, tuple(self.renderer.spec.channels))
        width = max(top.shape[1], bottom.shape[1])
        width += width % 2
        height = CAPTION_HEIGHT + top.shape[0] + 4 + bottom.shape[0]
        height += height % 2
        canvas = np.zeros((height, width, 3), dtype=np.uint8)
        canvas[CAPTION_HEIGHT:CAPTION_HEIGHT + top.shape[0], :top.shape[1]] = top
        offset = CAPTION_HEIGHT + top.shape[0] + 4
        canvas[offset:offset + bottom.shape[0], :bottom.shape[1]] = bottom
        steps = int(world.steps[entry])
        phase = "warm-up" if steps <= world.ncond else "control"
        caption = (f"episode {episode}  t={steps * world.dt:5.1f}s  "
                   f"v={state[3]:4.1f}m/s  {phase}")
        if ended:
            caption += f"  END: {TerminationReason(reason).name.lower()}"
        cv2.putText(canvas, caption, (4, CAPTION_HEIGHT - 5), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                    (255, 255, 255), 1, cv2.LINE_AA)
        return canvas

    def close(self, outcomes: dict[int, str]) -> dict[int, Path]:
        """Close every file, naming it ``LABEL-epNNNNN-OUTCOME.mp4``."""
        written = {}
        for episode, writer in self.writers.items():
            name = f"{self.wanted[episode]}-ep{episode:05d}-{outcomes.get(episode, 'unknown')}.mp4"
            written[episode] = writer.close(self.folder / name)
        return written


def choose_episodes(rows: list[dict], count: int) -> dict[int, str]:
    """The first ``count`` failures and successes (by episode id) among scored episodes."""
    scored = sorted((row for row in rows if row["scored"]), key=lambda row: row["episode"])
    failures = [row["episode"] for row in scored if not row["success"]][:count]
    successes = [row["episode"] for row in scored if row["success"]][:count]
    return {**{e: "failure" for e in failures}, **{e: "success" for e in successes}}


def write_videos(folder: str | Path, rows: list[dict], *, agent_spec: str, info, road,
                 split: str, split_kind: str, traffic: str, seed: int, count: int, device,
                 logs=None, batch_size: int | None = None) -> list[dict]:
    """Film ``count`` failures and ``count`` successes of an evaluation (module docstring);
    returns one entry per video: episode, label, outcome in the evaluation and in the
    re-run, file."""
    from traffic_mpc.evaluate.evaluator import (
        DEFAULT_BATCH_SIZE,
        recording_runner,
        split_episodes,
    )

    folder = Path(folder)
    wanted = choose_episodes(rows, count)
    if not wanted:
        return []
    by_id = {row["episode"]: row for row in rows}
    specs = {spec.episode: spec for spec in split_episodes(info, split, split_kind)}
    chosen = [specs[episode] for episode in sorted(wanted)]
    results = []
    for recording in sorted({spec.recording_index for spec in chosen}):
        mine = [spec for spec in chosen if spec.recording_index == recording]
        runner = recording_runner(info, road, recording, agent_spec, traffic=traffic,
                                  seed=seed, device=device, logs=logs,
                                  batch_size=batch_size or DEFAULT_BATCH_SIZE)
        filmer = EpisodeFilmer(folder, {spec.episode: wanted[spec.episode] for spec in mine},
                               road, runner.renderer
                               or EgoViewRenderer(road, ViewSpec(), device=device))
        runner.tracer = filmer
        try:
            rerun = {row["episode"]: row["outcome"] for row in runner.run(mine)}
        except BaseException:
            for writer in filmer.writers.values():
                writer.discard()
            raise
        written = filmer.close(rerun)
        for spec in mine:
            results.append({
                "episode": spec.episode,
                "label": wanted[spec.episode],
                "outcome": by_id[spec.episode]["outcome"],
                "rerun_outcome": rerun[spec.episode],
                "file": str(written[spec.episode].relative_to(folder.parent))
                if spec.episode in written else None,
            })
    return results
