"""Time Hounsfield and other DICOM converters on the same files and print a Markdown report.

benches/compare.sh prepares the tools and the inputs and then runs this
script. Every command runs under `/usr/bin/time -v` for its peak resident
set size; the wall time is measured here around the whole process, so
start-up costs (the Python interpreter, one process per file for DCMTK)
count. Outputs go to a folder on tmpfs that is emptied after each command.

Usage: python run.py --config CONFIG.json --report REPORT.md --results RESULTS.json
"""

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time

MIB = 1024 * 1024

# Environment variables that slow a current NumPy when they are set for old
# OpenBLAS builds; they are removed for the Python baselines only.
OPENBLAS_VARIABLES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def load_average():
    """Return the 1-minute load average."""
    with open("/proc/loadavg") as handle:
        return float(handle.read().split()[0])


def folder_size(path):
    """Return the number of bytes in the files under `path`."""
    total = 0
    for root, _, names in os.walk(path):
        for name in names:
            total += os.path.getsize(os.path.join(root, name))
    return total


def folder_files(path):
    """Return the number of files directly in `path`."""
    return sum(1 for entry in os.scandir(path) if entry.is_file())


def peak_rss_kib(time_output):
    """Return the peak RSS in KiB from the output of GNU time -v."""
    match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", time_output)
    if match is None:
        raise RuntimeError("GNU time printed no peak RSS:\n" + time_output)
    return int(match.group(1))


class Runner:
    """Runs commands, records their figures and keeps them for the report."""

    def __init__(self, config, repeat):
        self.config = config
        self.repeat = repeat
        self.results = []
        self.samples = {}
        self.failures = []

    def run(self, task, tool, cores, command, input_dir, output_dir, python=False, shell=False, sample=None):
        """Run `command` `repeat` times, keep the run with the median wall time and record it.

        `sample` names an output file, relative to `output_dir`, that is kept
        for the agreement check.
        """
        files = folder_files(input_dir)
        input_bytes = folder_size(input_dir)
        env = dict(os.environ)
        if python:
            for name in OPENBLAS_VARIABLES:
                env.pop(name, None)
        runs = []
        for _ in range(self.repeat):
            shutil.rmtree(output_dir, ignore_errors=True)
            os.makedirs(output_dir)
            time_file = output_dir + ".time"
            argv = ["/usr/bin/time", "-v", "-o", time_file]
            # One-core runs are pinned to CPU 0, so that helper threads (the
            # writer thread of Hounsfield, OpenBLAS threads of NumPy) cannot
            # borrow the other core.
            if cores == 1:
                argv += ["taskset", "-c", "0"]
            argv += ["bash", "-c", command] if shell else command
            load_before = load_average()
            start = time.perf_counter()
            completed = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            wall = time.perf_counter() - start
            load_after = load_average()
            with open(time_file) as handle:
                time_output = handle.read()
            os.remove(time_file)
            # Hounsfield exits with 1 when some inputs fail; every input here must convert.
            if completed.returncode != 0:
                message = completed.stderr.decode(errors="replace").strip().splitlines()
                reason = message[0] if message else "no message"
                if tool.startswith("hounsfield"):
                    sys.stderr.write("\n".join(message[-40:]) + "\n")
                    raise RuntimeError(f"{tool} ({task}) exited with status {completed.returncode}")
                # Another tool that cannot read these files is reported, not timed.
                print(f"{task:<24} {tool:<36} failed: {reason}", file=sys.stderr)
                self.failures.append({"task": task, "tool": tool, "cores": cores, "reason": reason})
                shutil.rmtree(output_dir, ignore_errors=True)
                return None
            written = os.path.join(output_dir, sample) if sample is not None else None
            if written is not None and not os.path.exists(written):
                # Some tools report unreadable files on stderr and still exit with 0.
                message = completed.stderr.decode(errors="replace").strip().splitlines()
                reason = "no output for the first file: " + (message[0] if message else "no message")
                print(f"{task:<24} {tool:<36} failed: {reason}", file=sys.stderr)
                self.failures.append({"task": task, "tool": tool, "cores": cores, "reason": reason})
                shutil.rmtree(output_dir, ignore_errors=True)
                return None
            if written is not None:
                kept = os.path.join(self.config["output_root"], "samples", f"{task}.{tool}.{cores}.png")
                os.makedirs(os.path.dirname(kept), exist_ok=True)
                shutil.copyfile(written, kept)
                self.samples[(task, tool, cores)] = kept
            runs.append(
                {
                    "wall_s": wall,
                    "peak_rss_mib": peak_rss_kib(time_output) / 1024,
                    "output_bytes": folder_size(output_dir),
                    "load_before": load_before,
                    "load_after": load_after,
                }
            )
            shutil.rmtree(output_dir, ignore_errors=True)
        runs.sort(key=lambda run: run["wall_s"])
        chosen = runs[len(runs) // 2]
        result = {
            "task": task,
            "tool": tool,
            "cores": cores,
            "files": files,
            "input_bytes": input_bytes,
            "command": command if shell else " ".join(command),
            "walls_s": [run["wall_s"] for run in runs],
            **chosen,
        }
        result["files_per_s"] = files / chosen["wall_s"]
        result["mb_per_s"] = input_bytes / 1e6 / chosen["wall_s"]
        self.results.append(result)
        print(
            f"{task:<24} {tool:<36} {cores} core(s): {result['files_per_s']:9.1f} files/s, "
            f"peak RSS {chosen['peak_rss_mib']:7.1f} MiB, load {load_before:.2f}->{load_after:.2f}",
            file=sys.stderr,
        )
        return result

    def find(self, task, tool, cores):
        """Return the recorded result of a run, or None."""
        for result in self.results:
            if result["task"] == task and result["tool"] == tool and result["cores"] == cores:
                return result
        return None


def recipe_path(config, name):
    return os.path.join(config["recipes"], name + ".yaml")


def per_file_command(tool_argv, input_dir, output_dir, jobs, extension):
    """Return a shell command that runs one process per input file, `jobs` at a time."""
    quoted = " ".join(tool_argv)
    return (
        f"cd {input_dir} && find . -type f -printf '%P\\0' | "
        f"xargs -0 -P {jobs} -I{{}} {quoted} {{}} {output_dir}/{{}}.{extension}"
    )


def cat_command(input_dir, jobs):
    """Return a shell command that reads every input once: the I/O floor."""
    return f"find {input_dir} -type f -print0 | xargs -0 -P {jobs} -n 64 cat > /dev/null"


def run_png_task(runner, task, input_dir, bits, core_counts, compressed=False):
    """Time the tools that write one windowed PNG per file at `bits` bits."""
    config = runner.config
    out = os.path.join(config["output_root"], task)
    hounsfield = config["hounsfield"]
    toimage = config.get("toimage")
    python = config["python"]
    scripts = config["scripts"]
    # dcm2pnm reads native Pixel Data only; dcmj2pnm adds DCMTK's JPEG, JPEG-LS and RLE codecs.
    dcmtk = "dcmj2pnm" if compressed else "dcm2pnm"
    first = sorted(os.listdir(input_dir))[0] + ".png"
    for cores in core_counts:
        runner.run(task, "cat (I/O floor)", cores, cat_command(input_dir, cores), input_dir, out, shell=True)
        runner.run(
            task,
            "hounsfield",
            cores,
            [hounsfield, "convert", input_dir, "--output", out, "--recipe",
             recipe_path(config, f"png{bits}"), "--jobs", str(cores)],
            input_dir,
            out,
            sample="png/" + first,
        )
        if bits == 8:
            argv = [python, os.path.join(scripts, "pydicom_png.py"), input_dir, out]
            if cores > 1:
                argv += ["--processes", str(cores)]
            runner.run(task, "pydicom + NumPy + Pillow", cores, argv, input_dir, out, python=True, sample=first)
        # +Wi 1: the first Window Center/Width of the file; +on / +on2: 8- or 16-bit PNG.
        dcmtk_argv = [dcmtk, "--use-window", "1", "+on" if bits == 8 else "+on2"]
        runner.run(
            task,
            f"DCMTK {dcmtk}",
            cores,
            per_file_command(dcmtk_argv, input_dir, out, cores, "png"),
            input_dir,
            out,
            shell=True,
            sample=first,
        )
        if toimage:
            # Bulk mode: one process converts a folder (1 core) or a share of the files (more cores).
            depth = "--8bit" if bits == 8 else "--16bit"
            if cores == 1:
                command, shell = [toimage, depth, "--outdir", out, input_dir], False
            else:
                share = -(-folder_files(input_dir) // cores)
                command = (
                    f"find {input_dir} -type f -print0 | "
                    f"xargs -0 -P {cores} -n {share} {toimage} {depth} --outdir {out}"
                )
                shell = True
            runner.run(
                task,
                "dicom-toimage 0.10.1",
                cores,
                command,
                input_dir,
                out,
                shell=shell,
                sample=os.path.splitext(first[: -len(".png")])[0] + ".png",
            )


def run_npy_task(runner, input_dir, core_counts):
    """Time the tools that write float32 modality values (HU) per file."""
    config = runner.config
    out = os.path.join(config["output_root"], "npy_ct")
    for cores in core_counts:
        runner.run("npy_ct", "cat (I/O floor)", cores, cat_command(input_dir, cores), input_dir, out, shell=True)
        runner.run(
            "npy_ct",
            "hounsfield (shards)",
            cores,
            [config["hounsfield"], "convert", input_dir, "--output", out, "--recipe",
             recipe_path(config, "npy"), "--jobs", str(cores)],
            input_dir,
            out,
        )
        argv = [config["python"], os.path.join(config["scripts"], "pydicom_npy.py"), input_dir, out]
        if cores > 1:
            argv += ["--processes", str(cores)]
        runner.run("npy_ct", "pydicom + NumPy", cores, argv, input_dir, out, python=True)


def run_metadata_task(runner, input_dir, core_counts):
    """Time header-only reads that write one table row per file."""
    config = runner.config
    out = os.path.join(config["output_root"], "metadata_ct")
    for cores in core_counts:
        runner.run(
            "metadata_ct",
            "hounsfield table (CSV)",
            cores,
            [config["hounsfield"], "table", input_dir, "--output", os.path.join(out, "table.csv"),
             "--jobs", str(cores)],
            input_dir,
            out,
        )
        argv = [config["python"], os.path.join(config["scripts"], "pydicom_table.py"), input_dir,
                os.path.join(out, "table.csv")]
        if cores > 1:
            argv += ["--processes", str(cores)]
        runner.run("metadata_ct", "pydicom dcmread(stop_before_pixels)", cores, argv, input_dir, out,
                   python=True)


def run_rss_task(runner, small_dir, large_dir):
    """Run Hounsfield on 500 and on all files to show that peak RSS does not grow with them."""
    config = runner.config
    cores = os.cpu_count()
    for label, input_dir in (("500 files", small_dir), ("all files", large_dir)):
        for recipe in ("png8", "npy"):
            out = os.path.join(config["output_root"], "rss")
            runner.run(
                "rss_" + recipe,
                f"hounsfield, {label}",
                cores,
                [config["hounsfield"], "convert", input_dir, "--output", out, "--recipe",
                 recipe_path(config, recipe), "--jobs", str(cores)],
                input_dir,
                out,
            )


def markdown_agreement(runner):
    """Return a table comparing each tool's PNG of the first input with Hounsfield's."""
    import numpy as np
    from PIL import Image

    lines = [
        "| task | tool | shape | bit depth | max abs difference | pixels that differ |",
        "|---|---|---|---|---:|---:|",
    ]
    for (task, tool, cores), path in runner.samples.items():
        if tool == "hounsfield" or cores != 1:
            continue
        reference_path = runner.samples.get((task, "hounsfield", 1))
        if reference_path is None:
            continue
        reference = np.asarray(Image.open(reference_path)).astype(np.int64)
        image = Image.open(path)
        values = np.asarray(image).astype(np.int64)
        if values.shape != reference.shape:
            lines.append(f"| {task} | {tool} | {values.shape} | {image.mode} | shapes differ | n/a |")
            continue
        difference = np.abs(values - reference)
        lines.append(
            f"| {task} | {tool} | {values.shape} | {image.mode} | {difference.max()} "
            f"| {100 * np.count_nonzero(difference) / difference.size:.3f} % |"
        )
    return lines


def ratio(runner, task, tool, other, cores):
    """Return files/s of `tool` over files/s of `other`, or None when one is missing."""
    mine = runner.find(task, tool, cores)
    theirs = runner.find(task, other, cores)
    if mine is None or theirs is None:
        return None
    return mine["files_per_s"] / theirs["files_per_s"]


def format_ratio(value):
    return "n/a" if value is None else f"{value:.2f}x"


def markdown_tables(runner):
    """Return one Markdown table per task."""
    lines = []
    tasks = []
    for result in runner.results:
        if result["task"] not in tasks:
            tasks.append(result["task"])
    for task in tasks:
        rows = [result for result in runner.results if result["task"] == task]
        lines.append(f"#### {task}")
        lines.append("")
        lines.append(f"{rows[0]['files']} files, {rows[0]['input_bytes'] / 1e6:.1f} MB of input.")
        lines.append("")
        lines.append("| tool | cores | wall s | files/s | MB/s | output MB | peak RSS MiB | load 1 min |")
        lines.append("|---|---:|---:|---:|---:|---:|---:|---|")
        for row in rows:
            lines.append(
                f"| {row['tool']} | {row['cores']} | {row['wall_s']:.2f} | {row['files_per_s']:.1f} "
                f"| {row['mb_per_s']:.1f} | {row['output_bytes'] / 1e6:.1f} | {row['peak_rss_mib']:.1f} "
                f"| {row['load_before']:.2f} → {row['load_after']:.2f} |"
            )
        lines.append("")
    return lines


def markdown_targets(runner):
    """Return the table of targets, each with its measured ratio."""
    all_cores = os.cpu_count()
    checks = []

    def add(name, value, goal, higher_is_better=True):
        met = None if value is None else (value >= goal if higher_is_better else value <= goal)
        checks.append((name, value, goal, met, higher_is_better))

    add("PNG 8-bit vs pydicom + Pillow, 1 core", ratio(runner, "png8_ct", "hounsfield", "pydicom + NumPy + Pillow", 1), 15)
    add("PNG 8-bit vs dicom-toimage 0.10.1, 1 core", ratio(runner, "png8_ct", "hounsfield", "dicom-toimage 0.10.1", 1), 1.5)
    add("PNG 8-bit vs dcm2pnm, 1 core", ratio(runner, "png8_ct", "hounsfield", "DCMTK dcm2pnm", 1), 1.0)
    add("PNG 16-bit vs dcm2pnm, 1 core", ratio(runner, "png16_ct", "hounsfield", "DCMTK dcm2pnm", 1), 1.0)
    add("HU tensors vs pydicom + NumPy, 1 core", ratio(runner, "npy_ct", "hounsfield (shards)", "pydicom + NumPy", 1), 3)
    add(
        "metadata vs pydicom dcmread(stop_before_pixels), 1 core",
        ratio(runner, "metadata_ct", "hounsfield table (CSV)", "pydicom dcmread(stop_before_pixels)", 1),
        10,
    )
    for task, tool in (("png8_ct", "hounsfield"), ("npy_ct", "hounsfield (shards)")):
        one = runner.find(task, tool, 1)
        many = runner.find(task, tool, all_cores)
        value = None if one is None or many is None else many["files_per_s"] / one["files_per_s"]
        add(f"{task}: scaling from 1 to {all_cores} cores", value, 1.8)
    for recipe in ("png8", "npy"):
        small = runner.find("rss_" + recipe, "hounsfield, 500 files", all_cores)
        large = runner.find("rss_" + recipe, "hounsfield, all files", all_cores)
        if small and large:
            add(f"peak RSS MiB, {recipe}, {large['files']} files", large["peak_rss_mib"], 300, higher_is_better=False)
            add(
                f"peak RSS ratio {recipe}, {large['files']} over 500 files",
                large["peak_rss_mib"] / small["peak_rss_mib"],
                1.1,
                higher_is_better=False,
            )

    lines = ["| target | measured | goal | met |", "|---|---:|---:|---|"]
    for name, value, goal, met, higher in checks:
        shown = "n/a" if value is None else (f"{value:.2f}x" if "RSS MiB" not in name else f"{value:.1f}")
        bound = f"≥ {goal}" if higher else f"≤ {goal}"
        verdict = "n/a" if met is None else ("yes" if met else "**no**")
        lines.append(f"| {name} | {shown} | {bound} | {verdict} |")
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--report", required=True)
    parser.add_argument("--results", required=True)
    parser.add_argument("--machine", help="Markdown lines describing the machine and the tool versions")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--only", default="", help="comma-separated tasks: png8,png16,npy,metadata,compressed,rss")
    args = parser.parse_args()
    with open(args.config) as handle:
        config = json.load(handle)

    runner = Runner(config, args.repeat)
    selected = set(filter(None, args.only.split(","))) or {"png8", "png16", "npy", "metadata", "compressed", "rss"}
    core_counts = sorted({1, os.cpu_count()})
    ct = config["ct_dir"]
    if "png8" in selected:
        run_png_task(runner, "png8_ct", ct, 8, core_counts)
    if "png16" in selected:
        run_png_task(runner, "png16_ct", ct, 16, core_counts)
    if "npy" in selected:
        run_npy_task(runner, ct, core_counts)
    if "metadata" in selected:
        run_metadata_task(runner, ct, core_counts)
    if "compressed" in selected:
        for syntax in sorted(os.listdir(config["compressed_dir"])):
            folder = os.path.join(config["compressed_dir"], syntax)
            run_png_task(runner, f"png8_{syntax}", folder, 8, core_counts, compressed=True)
    if "rss" in selected:
        run_rss_task(runner, ct + "-500", ct)

    with open(args.results, "w") as handle:
        json.dump(runner.results, handle, indent=2)
    lines = []
    if args.machine:
        with open(args.machine) as handle:
            lines += ["### Machine", ""] + handle.read().splitlines() + [""]
    lines += ["### Targets", ""] + markdown_targets(runner) + ["", "### Runs", ""] + markdown_tables(runner)
    if runner.samples:
        lines += ["### Output agreement with Hounsfield (first file, 1-core runs)", ""]
        lines += markdown_agreement(runner) + [""]
    if runner.failures:
        lines += ["### Runs that failed", "", "| task | tool | cores | first line of stderr |", "|---|---|---:|---|"]
        lines += [f"| {f['task']} | {f['tool']} | {f['cores']} | {f['reason']} |" for f in runner.failures]
        lines += [""]
    with open(args.report, "w") as handle:
        handle.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
