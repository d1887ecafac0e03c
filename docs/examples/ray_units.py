"""Convert the work units of a Hounsfield plan with Ray Data, then merge them.

Each unit becomes one row of a Ray dataset; ``map_batches`` converts one unit per
task with ``hounsfield.convert_plan``, which writes ``OUTPUT/units/unit-NNNNNN/`` and
its ``DONE.json``. The driver then calls ``hounsfield.finalize``. Rerunning the
script skips the units that are done.

    python docs/examples/ray_units.py plan.json OUTPUT [--recipe recipe.yaml]

Every Ray worker must see the plan's input paths and the output folder (a shared
file system), and the plan should hold absolute input paths.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import ray

import hounsfield


def convert_batch(
    batch: dict[str, np.ndarray], plan: str, output: str, recipe: str | None, jobs: int
) -> dict[str, np.ndarray]:
    """Convert the units of one batch and return a row of counts per unit."""
    rows: dict[str, list[Any]] = {"unit": [], "converted": [], "failed": [], "samples": []}
    for unit in batch["unit"]:
        summary = hounsfield.convert_plan(plan, output, recipe, units=[int(unit)], jobs=jobs)
        rows["unit"].append(int(unit))
        rows["converted"].append(summary["counts"]["converted"])
        rows["failed"].append(summary["counts"]["failed"])
        rows["samples"].append(summary["counts"]["samples"])
    return {name: np.asarray(values) for name, values in rows.items()}


def run(
    plan: str | os.PathLike[str],
    output: str | os.PathLike[str],
    recipe: str | None = None,
    *,
    num_cpus: int | None = None,
    jobs_per_task: int = 1,
) -> dict[str, Any]:
    """Convert every unit of ``plan`` on Ray and return the summary of ``finalize``.

    Starts a local Ray instance with ``num_cpus`` CPUs unless Ray is already
    initialised (for example by ``ray.init(address="auto")`` on a cluster).
    """
    plan = os.path.abspath(plan)
    output = os.path.abspath(output)
    with open(plan, encoding="utf-8") as file:
        units = [unit["index"] for unit in json.load(file)["units"]]
    if not ray.is_initialized():
        ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False)
    if __name__ != "__main__":
        # Imported as a module, which Ray workers cannot import: send the
        # function's code with the task, as Ray does for a script.
        ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    dataset = ray.data.from_items([{"unit": unit} for unit in units])
    results = dataset.map_batches(
        convert_batch,
        batch_size=1,
        num_cpus=jobs_per_task,
        fn_kwargs={"plan": plan, "output": output, "recipe": recipe, "jobs": jobs_per_task},
    ).take_all()
    failed = sum(int(row["failed"]) for row in results)
    if failed:
        print(f"{failed} input file(s) failed; see {output}/manifest.jsonl")
    return hounsfield.finalize(output)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("plan", help="plan file from `hounsfield plan`")
    parser.add_argument("output", help="output folder shared by all workers")
    parser.add_argument("--recipe", type=Path, help="recipe YAML (default: the embedded recipe)")
    parser.add_argument("--address", help="Ray cluster address (default: start a local instance)")
    parser.add_argument("--jobs-per-task", type=int, default=1, help="threads per unit task")
    args = parser.parse_args()
    if args.address:
        ray.init(address=args.address)
    recipe = args.recipe.read_text() if args.recipe else None
    summary = run(args.plan, args.output, recipe, jobs_per_task=args.jobs_per_task)
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
