"""``data info DATASET``: what a dataset holds (episodes per split, transitions, costs, size)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from traffic_mpc.data.manifest import COST_FIELDS, SPLIT_KINDS, SPLIT_NAMES, open_dataset
from traffic_mpc.data.shards import LENGTH
from traffic_mpc.data.statistics import moments


def _folder_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def dataset_summary(path: str | Path) -> dict:
    """Figures of a dataset (validated on opening): JSON-ready."""
    info = open_dataset(path)
    manifest = info.manifest
    episodes = info.episodes
    lengths = episodes[:, LENGTH]
    size = _folder_bytes(info.path)
    views_bytes = sum(shard["views"].nbytes for shard in info.shards)
    splits = {}
    for kind in SPLIT_KINDS:
        entry = manifest["splits"][kind]
        splits[kind] = {
            "unit": entry.get("unit"),
            **{
                name: {
                    "episodes": len(entry[name]),
                    "transitions": int(lengths[np.asarray(entry[name], np.int64)].sum())
                    if entry[name] else 0,
                }
                for name in SPLIT_NAMES
            },
            "dropped": entry.get("dropped", 0),
        }
    costs = moments(info.shards, episodes[:, 0])["costs"]
    rows = int(lengths.sum())
    return {
        "path": str(info.path),
        "format_version": manifest["format_version"],
        "road": manifest["road"]["name"],
        "recordings": [source["name"] for source in manifest["sources"]],
        "dt": manifest["dt"],
        "view": {
            "channels": manifest["image"]["channels"],
            "height": info.layout.height,
            "width": info.layout.width,
        },
        "episodes": len(episodes),
        "transitions": rows,
        "episode_steps": {
            "mean": float(lengths.mean()) if len(lengths) else 0.0,
            "min": int(lengths.min()) if len(lengths) else 0,
            "max": int(lengths.max()) if len(lengths) else 0,
        },
        "shards": len(info.shards),
        "splits": splits,
        "costs": {
            name: {
                "mean": costs["mean"][i],
                "max": costs["max"][i],
                "fraction_positive": costs["fraction_positive"][i],
            }
            for i, name in enumerate(COST_FIELDS)
        } if costs else {},
        "bytes": size,
        "bytes_per_transition": size / rows if rows else 0.0,
        "view_bytes_per_transition": views_bytes / rows if rows else 0.0,
    }


def format_summary(summary: dict) -> str:
    """The summary as the text ``data info`` prints."""
    view = summary["view"]
    steps = summary["episode_steps"]
    lines = [
        f"dataset      {summary['path']} (format {summary['format_version']})",
        f"road         {summary['road']}; recordings: {', '.join(summary['recordings'])}",
        f"view         {view['height']} x {view['width']} px, channels "
        f"{', '.join(view['channels'])}",
        f"episodes     {summary['episodes']} in {summary['shards']} shards; steps per "
        f"episode mean {steps['mean']:.1f} (min {steps['min']}, max {steps['max']})",
        f"transitions  {summary['transitions']} ({summary['transitions'] * summary['dt']:.0f} s"
        " of driving)",
        "splits       kind       unit        train (episodes/steps)  val                  test",
    ]
    for kind, entry in summary["splits"].items():
        cells = [f"{entry[name]['episodes']:>5} / {entry[name]['transitions']:<9}"
                 for name in SPLIT_NAMES]
        dropped = (f"  ({entry['dropped']} episodes straddle a block edge, left out)"
                   if entry["dropped"] else "")
        lines.append(f"             {kind:<10} {entry['unit'] or '':<11} {cells[0]:<23} "
                     f"{cells[1]:<20} {cells[2]}{dropped}")
    lines.append("costs        name        mean     max   steps > 0")
    for name, figures in summary["costs"].items():
        lines.append(
            f"             {name:<10} {figures['mean']:6.3f}  {figures['max']:6.3f}  "
            f"{100 * figures['fraction_positive']:6.1f} %"
        )
    lines.append(
        f"size         {summary['bytes'] / 1e6:.1f} MB on disk, "
        f"{summary['bytes_per_transition'] / 1e3:.2f} kB per transition "
        f"(views {summary['view_bytes_per_transition'] / 1e3:.2f} kB)"
    )
    return "\n".join(line.rstrip() for line in lines)
