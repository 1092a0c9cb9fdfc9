"""The wide benchmark: the config `labelloop init` writes, against random, on many pools.

Every pool ships inside a package from the registries (nothing is downloaded at run
time). Each is written to a CSV, given to ``labelloop init``'s config writer exactly as a
new user's file would be, and simulated with the config's strategy and with random on the
same seeds (same evaluation set, same cold start, same full-pool ceiling per seed).

Pools are split in two: ``tune`` pools may be used to choose the defaults; ``report``
pools are never looked at while choosing them, and are the evidence.

``python -m bench wide [--pools a,b] [--split tune|report|all] [--seeds 20] [--set K=V]``
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from bench._suite_pools import SUITE, SuitePool

OUT = Path("runs/bench/wide")


@dataclass
class PoolResult:
    """One pool's comparison of the default strategy with random over the seeds."""

    pool: str
    kind: str
    split: str
    n_items: int
    n_classes: int
    minority_share: float
    strategy: str
    seeds: int
    full_accuracy: float
    full_macro_f1: float
    f1_default: float
    f1_random: float
    aulc_default: float
    aulc_random: float
    aulc_gap: float
    aulc_gap_low: float
    aulc_gap_high: float
    f1_gap: float
    f1_gap_low: float
    f1_gap_high: float
    to95_default: float | None
    to95_random: float | None
    to95_ratio: float | None
    to95_ratio_low: float | None
    to95_ratio_high: float | None
    to99_default: float | None
    to99_random: float | None
    to99_ratio: float | None
    to99_ratio_low: float | None
    to99_ratio_high: float | None
    reached99_default: int
    reached99_random: int
    verdict: str
    f1_verdict: str
    seconds: float
    seconds_features: float


def _config_for(
    spec: SuitePool, frame: pd.DataFrame, folder: Path, overrides: Sequence[str]
) -> Path:
    """Write the pool as a CSV and let init's writer make its config, as a user would."""
    from labelloop.annotate.config.writer import write_config

    data = folder / f"{spec.name}.csv"
    frame.to_csv(data, index=False)
    path = write_config(spec.name, data, label_column="label", configs_dir=folder, force=True).path
    if overrides:
        settings = yaml.safe_load(path.read_text())
        for override in overrides:
            key, _, value = override.partition("=")
            node = settings
            *parents, leaf = key.split(".")
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = yaml.safe_load(value)
        path.write_text(yaml.safe_dump(settings, sort_keys=False))
    return path


def _one_seed(
    config_path: str, strategies: list[str], seed: int, cache: str
) -> tuple[list[Any], tuple[float, float]]:
    """Simulate the strategies under one seed (in a worker process, one BLAS thread)."""
    from threadpoolctl import threadpool_limits

    from labelloop.annotate.config.schema import load_config
    from labelloop.annotate.simulation.curves import run_simulations

    config = load_config(Path(config_path))
    with threadpool_limits(1):
        report = run_simulations(config, strategies, [seed], cache_dir=Path(cache))
    return report.runs, (report.full_pool_accuracy[seed], report.full_pool_macro_f1[seed])


def _paired_interval(gaps: Sequence[float]) -> tuple[float, float, float]:
    """The shared paired t interval, with NaN bounds for a single seed."""
    from labelloop.learners import paired_interval

    mean, low, high = paired_interval(gaps)
    return mean, float("nan") if low is None else low, float("nan") if high is None else high


def _ratio_interval(
    mine: Sequence[int | None], theirs: Sequence[int | None], cap: int, seed: int = 0
) -> tuple[float | None, float | None, float | None]:
    """Ratio of mean labels to a target, with a paired bootstrap 95% interval over seeds.

    A seed that never reached the target counts the budget plus one batch: a lower bound
    of what it would have needed, which flatters the side that failed to reach it.
    """
    a = np.asarray([cap if v is None else v for v in mine], dtype=float)
    b = np.asarray([cap if v is None else v for v in theirs], dtype=float)
    if a.size == 0 or b.mean() == 0:
        return None, None, None
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, a.size, size=(4000, a.size))
    ratios = a[draws].mean(axis=1) / np.maximum(b[draws].mean(axis=1), 1e-9)
    low, high = np.percentile(ratios, [2.5, 97.5])
    return float(a.mean() / b.mean()), float(low), float(high)


def run_pool(
    spec: SuitePool,
    seeds: Sequence[int],
    overrides: Sequence[str],
    jobs: int,
    work: Path = OUT,
) -> tuple[PoolResult, list[Any]]:
    """Simulate one pool's default against random on every seed (files under ``work``)."""
    from labelloop.annotate.config.schema import load_config
    from labelloop.learners import area_under_curve, labels_to_reach

    folder = work / "pools"
    folder.mkdir(parents=True, exist_ok=True)
    frame = spec.load()
    path = _config_for(spec, frame, folder, overrides)
    config = load_config(path)
    strategies = [config.strategy, "random"]
    started = time.perf_counter()
    # Features once (embeddings take minutes), then every seed reads them from the cache.
    from labelloop.annotate.loop.features import load_project_pool, project_features

    cache = work / "cache"
    project_features(config, load_project_pool(config), cache)
    featurized = time.perf_counter() - started
    with ProcessPoolExecutor(max_workers=jobs) as executor:
        futures = [executor.submit(_one_seed, str(path), strategies, s, str(cache)) for s in seeds]
        results = [f.result() for f in futures]
    seconds = time.perf_counter() - started
    runs = [run for found, _ in results for run in found]
    ceilings = {seed: ceiling[0] for seed, (_, ceiling) in zip(seeds, results, strict=True)}
    ceilings_f1 = {seed: ceiling[1] for seed, (_, ceiling) in zip(seeds, results, strict=True)}
    by = {(r.strategy, r.seed): r for r in runs}
    aulc: dict[str, list[float]] = {name: [] for name in strategies}
    f1: dict[str, list[float]] = {name: [] for name in strategies}
    to95: dict[str, list[int | None]] = {name: [] for name in strategies}
    to99: dict[str, list[int | None]] = {name: [] for name in strategies}
    for seed in seeds:
        for name in strategies:
            run = by[(name, seed)]
            x = [p.n_labels for p in run.points]
            acc = [p.accuracy for p in run.points]
            aulc[name].append(area_under_curve(x, acc))
            f1[name].append(area_under_curve(x, [p.macro_f1 for p in run.points]))
            to95[name].append(labels_to_reach(x, acc, 0.95 * ceilings[seed]))
            to99[name].append(labels_to_reach(x, acc, 0.99 * ceilings[seed]))
    default, random = strategies
    gap, low, high = _paired_interval(np.subtract(aulc[default], aulc[random]).tolist())
    f1_gap, f1_low, f1_high = _paired_interval(np.subtract(f1[default], f1[random]).tolist())
    cap = config.budget + config.batch_size
    r95 = _ratio_interval(to95[default], to95[random], cap)
    r99 = _ratio_interval(to99[default], to99[random], cap)
    shares = frame["label"].value_counts(normalize=True)
    verdict = _verdict(gap_interval=(low, high), ratios=(r95, r99))
    # Macro-F1 is judged apart: on an imbalanced pool accuracy alone hides a missed class,
    # but a curve can also sit above the full-pool model's when weaker models guess the
    # rare class more often, so a person has to read it beside the full-pool value.
    f1_verdict = _verdict(gap_interval=(f1_low, f1_high), ratios=())

    def mean_or_none(values: list[int | None]) -> float | None:
        return float(np.mean([cap if v is None else v for v in values])) if values else None

    result = PoolResult(
        pool=spec.name,
        kind=spec.kind,
        split=spec.split,
        n_items=len(frame),
        n_classes=int(shares.size),
        minority_share=float(shares.min()),
        strategy=default,
        seeds=len(seeds),
        full_accuracy=float(np.mean(list(ceilings.values()))),
        full_macro_f1=float(np.mean(list(ceilings_f1.values()))),
        f1_default=float(np.mean(f1[default])),
        f1_random=float(np.mean(f1[random])),
        aulc_default=float(np.mean(aulc[default])),
        aulc_random=float(np.mean(aulc[random])),
        aulc_gap=gap,
        aulc_gap_low=low,
        aulc_gap_high=high,
        f1_gap=f1_gap,
        f1_gap_low=f1_low,
        f1_gap_high=f1_high,
        to95_default=mean_or_none(to95[default]),
        to95_random=mean_or_none(to95[random]),
        to95_ratio=r95[0],
        to95_ratio_low=r95[1],
        to95_ratio_high=r95[2],
        to99_default=mean_or_none(to99[default]),
        to99_random=mean_or_none(to99[random]),
        to99_ratio=r99[0],
        to99_ratio_low=r99[1],
        to99_ratio_high=r99[2],
        reached99_default=sum(v is not None for v in to99[default]),
        reached99_random=sum(v is not None for v in to99[random]),
        verdict=verdict,
        f1_verdict=f1_verdict,
        seconds=seconds,
        seconds_features=featurized,
    )
    return result, runs


def _verdict(
    gap_interval: tuple[float, float],
    ratios: Sequence[tuple[float | None, float | None, float | None]],
) -> str:
    """WORSE, better or tie, from an area gap's interval and labels-to-target ratios' intervals.

    WORSE when the area is below random's beyond its interval or more labels are needed
    to reach a target beyond its interval; better when one of them is better beyond its
    interval and none worse; tie otherwise.
    """
    low, high = gap_interval
    worse = high < 0 or any(r[1] is not None and r[1] > 1 for r in ratios)
    better = low > 0 or any(r[2] is not None and r[2] < 1 for r in ratios)
    return "WORSE" if worse else "better" if better else "tie"


def _ratio_text(value: float | None, low: float | None, high: float | None) -> str:
    if value is None or low is None or high is None:
        return "-"
    return f"{value:.2f}x [{low:.2f}, {high:.2f}]"


def _labels_text(value: float | None, reached: int | None = None, of: int | None = None) -> str:
    if value is None:
        return "-"
    text = f"{value:.0f}"
    if reached is not None and of is not None and reached < of:
        text += f" ({of - reached} not)"
    return text


def table(rows: Sequence[PoolResult]) -> Any:
    """A rich table: one row per pool."""
    from rich.table import Table

    out = Table(title="Wide benchmark: init's defaults against random (mean over seeds, 95%)")
    for name in (
        "pool",
        "split",
        "kind",
        "items",
        "classes",
        "min class",
        "full acc",
        "AULC default",
        "AULC random",
        "AULC gap (95%)",
        "macro-F1: default / random / full pool",
        "macro-F1 AULC gap (95%)",
        "labels to 95%: ratio",
        "labels to 99%: default / random",
        "labels to 99%: ratio",
        "verdict",
        "macro-F1 verdict",
    ):
        out.add_column(name, justify="left" if name in {"pool", "split", "kind"} else "right")
    for r in rows:
        colour = {"better": "green", "WORSE": "red"}.get(r.verdict, "yellow")
        f1_colour = {"better": "green", "WORSE": "red"}.get(r.f1_verdict, "yellow")
        out.add_row(
            r.pool,
            r.split,
            r.kind,
            str(r.n_items),
            str(r.n_classes),
            f"{r.minority_share:.0%}",
            f"{r.full_accuracy:.3f}",
            f"{r.aulc_default:.3f}",
            f"{r.aulc_random:.3f}",
            f"{r.aulc_gap:+.3f} [{r.aulc_gap_low:+.3f}, {r.aulc_gap_high:+.3f}]",
            f"{r.f1_default:.3f} / {r.f1_random:.3f} / {r.full_macro_f1:.3f}",
            f"{r.f1_gap:+.3f} [{r.f1_gap_low:+.3f}, {r.f1_gap_high:+.3f}]",
            _ratio_text(r.to95_ratio, r.to95_ratio_low, r.to95_ratio_high),
            f"{_labels_text(r.to99_default, r.reached99_default, r.seeds)} / "
            f"{_labels_text(r.to99_random, r.reached99_random, r.seeds)}",
            _ratio_text(r.to99_ratio, r.to99_ratio_low, r.to99_ratio_high),
            f"[{colour}]{r.verdict}[/{colour}]",
            f"[{f1_colour}]{r.f1_verdict}[/{f1_colour}]",
        )
    return out


def markdown(rows: Sequence[PoolResult]) -> str:
    """The same table in Markdown, for the README."""
    lines = [
        "| pool | split | kind | items | classes | min class | AULC default | AULC random "
        "| AULC gap (95%) | labels to 95%: ratio (95%) | labels to 99%: default / random "
        "| ratio (95%) | verdict | macro-F1: default / random / full pool "
        "| macro-F1 AULC gap (95%) | macro-F1 verdict |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
        "| --- | ---: | ---: | --- |",
    ]
    for r in rows:
        lines.append(
            f"| {r.pool} | {r.split} | {r.kind} | {r.n_items} | {r.n_classes} "
            f"| {r.minority_share:.0%} | {r.aulc_default:.3f} | {r.aulc_random:.3f} "
            f"| {r.aulc_gap:+.3f} [{r.aulc_gap_low:+.3f}, {r.aulc_gap_high:+.3f}] "
            f"| {_ratio_text(r.to95_ratio, r.to95_ratio_low, r.to95_ratio_high)} "
            f"| {_labels_text(r.to99_default, r.reached99_default, r.seeds)} / "
            f"{_labels_text(r.to99_random, r.reached99_random, r.seeds)} "
            f"| {_ratio_text(r.to99_ratio, r.to99_ratio_low, r.to99_ratio_high)} | {r.verdict} "
            f"| {r.f1_default:.3f} / {r.f1_random:.3f} / {r.full_macro_f1:.3f} "
            f"| {r.f1_gap:+.3f} [{r.f1_gap_low:+.3f}, {r.f1_gap_high:+.3f}] | {r.f1_verdict} |"
        )
    return "\n".join(lines) + "\n"


def plot(rows: Sequence[PoolResult], path: Path) -> None:
    """Left: AULC gap per pool with its interval. Right: labels-to-99% ratio."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 0.45 * len(rows) + 2), sharey=True)
    names = [f"{r.pool} ({r.split})" for r in rows]
    y = np.arange(len(rows))[::-1]
    shade = {"better": "tab:green", "WORSE": "tab:red"}
    colours = [shade.get(r.verdict, "tab:orange") for r in rows]
    f1_colours = [shade.get(r.f1_verdict, "tab:orange") for r in rows]
    gaps = np.array([r.aulc_gap for r in rows])
    err = np.array([[r.aulc_gap - r.aulc_gap_low, r.aulc_gap_high - r.aulc_gap] for r in rows]).T
    left.errorbar(gaps, y, xerr=err, fmt="none", ecolor="grey", capsize=3)
    left.scatter(gaps, y, c=colours, zorder=3, label="accuracy")
    f1 = np.array([r.f1_gap for r in rows])
    f1_err = np.array([[r.f1_gap - r.f1_gap_low, r.f1_gap_high - r.f1_gap] for r in rows]).T
    left.errorbar(f1, y - 0.3, xerr=f1_err, fmt="none", ecolor="lightgrey", capsize=2)
    left.scatter(f1, y - 0.3, c=f1_colours, marker="x", zorder=3, label="macro-F1")
    left.legend(loc="lower right", fontsize="small")
    left.axvline(0, color="black", lw=1)
    left.set_yticks(y, names)
    left.set_xlabel("AULC(default) - AULC(random), 95% interval (right of 0: default better)")
    left.set_title("green: better, orange: tie, red: worse than random", fontsize="small")
    ratios = [r.to99_ratio if r.to99_ratio is not None else np.nan for r in rows]
    lows = [r.to99_ratio_low if r.to99_ratio_low is not None else np.nan for r in rows]
    highs = [r.to99_ratio_high if r.to99_ratio_high is not None else np.nan for r in rows]
    right.errorbar(
        ratios,
        y,
        xerr=[np.subtract(ratios, lows), np.subtract(highs, ratios)],
        fmt="none",
        ecolor="grey",
        capsize=3,
    )
    right.scatter(ratios, y, c=colours, zorder=3)
    right.axvline(1, color="black", lw=1)
    right.axvline(0.5, color="grey", lw=1, ls="--")
    right.set_xlabel("labels to 99% of full-pool accuracy: default / random (left of 1: fewer)")
    fig.suptitle(f"init's defaults against random, {rows[0].seeds if rows else 0} seeds per pool")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the suite (or part of it), print the table, write JSON, Markdown and a plot."""
    from rich.console import Console

    parser = argparse.ArgumentParser(prog="python -m bench wide")
    parser.add_argument("--pools", default="", help="comma-separated pool names (default all)")
    parser.add_argument("--split", choices=("tune", "report", "all"), default="all")
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument(
        "--set", action="append", default=[], help="override a config key: model.params.C=1"
    )
    parser.add_argument("--out", default=str(OUT / "suite"))
    args = parser.parse_args(argv)
    chosen = [p for p in SUITE if args.split in ("all", p.split)]
    if args.pools:
        wanted = set(args.pools.split(","))
        unknown = wanted - {p.name for p in SUITE}
        if unknown:
            parser.error(f"unknown pool(s): {', '.join(sorted(unknown))}")
        chosen = [p for p in chosen if p.name in wanted]
    console = Console(width=220)
    rows: list[PoolResult] = []
    all_runs: dict[str, list[Any]] = {}
    seeds = list(range(args.seeds))
    for spec in chosen:
        console.print(f"[bold]{spec.name}[/bold] ({spec.kind}, {spec.split}) ...")
        result, runs = run_pool(spec, seeds, args.set, args.jobs, Path(args.out).parent)
        console.print(
            f"  {result.verdict} (macro-F1: {result.f1_verdict}): AULC gap {result.aulc_gap:+.3f} "
            f"[{result.aulc_gap_low:+.3f}, {result.aulc_gap_high:+.3f}] in {result.seconds:.0f} s"
        )
        rows.append(result)
        all_runs[spec.name] = runs
    console.print(table(rows))
    counts = {v: sum(r.verdict == v for r in rows) for v in ("better", "tie", "WORSE")}
    console.print(
        f"{counts['better']} better, {counts['tie']} tie, {counts['WORSE']} worse than random"
        f" (macro-F1: {sum(r.f1_verdict == 'better' for r in rows)} better, "
        f"{sum(r.f1_verdict == 'tie' for r in rows)} tie, "
        f"{sum(r.f1_verdict == 'WORSE' for r in rows)} worse)"
        + "".join(
            f"; {split}: "
            + ", ".join(
                f"{sum(r.verdict == v for r in rows if r.split == split)} {v}"
                for v in ("better", "tie", "WORSE")
            )
            for split in ("tune", "report")
            if any(r.split == split for r in rows)
        )
    )
    out = Path(args.out)
    if out.suffix in (".json", ".md", ".png"):
        out = out.with_suffix("")  # --out suite.json names the set, not one file
    out.parent.mkdir(parents=True, exist_ok=True)

    def beside(suffix: str) -> Path:
        # Appended, not with_suffix: an --out like runs/c0.1 keeps its whole name.
        return out.with_name(out.name + suffix)

    curves = {
        pool: [
            {
                "strategy": r.strategy,
                "seed": r.seed,
                "n_labels": [p.n_labels for p in r.points],
                "accuracy": [p.accuracy for p in r.points],
                "macro_f1": [p.macro_f1 for p in r.points],
            }
            for r in runs
        ]
        for pool, runs in all_runs.items()
    }
    beside(".json").write_text(
        json.dumps(
            {
                "overrides": args.set,
                "seeds": args.seeds,
                "rows": [asdict(r) for r in rows],
                "curves": curves,
            },
            indent=None,
        )
    )
    beside(".md").write_text(markdown(rows))
    if rows:
        plot(rows, beside(".png"))
    console.print(f"wrote {beside('.json')}, .md and .png")


if __name__ == "__main__":
    main()
