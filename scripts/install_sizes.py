"""Measure how many bytes each install path downloads, without downloading it (the figures in README.md).

Sizes are the registry's own, as recorded in uv.lock (`size = ...` for every wheel). The install set comes
from uv (`uv export`, markers evaluated for this machine) or from pip (`pip install --dry-run --report`),
and each package's file is the wheel this interpreter would take. A file the lock does not know (pip chose
another version) is sized by an HTTP HEAD request to its URL, never downloaded. The CPU-only paths are the
same sets with the CUDA packages (torch's CUDA build, nvidia-*, triton, cuda-*) replaced by a CPU torch
wheel, whose size is given on the command line (download.pytorch.org is not reachable from every machine).

    uv run python scripts/install_sizes.py uv                           # `uv run` (default groups)
    uv run python scripts/install_sizes.py pip --report report.json      # a `pip install --dry-run --report` file
    ... --cpu-torch-bytes 191794682                                      # also print the CPU-only figure
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tomllib
import urllib.request
from pathlib import Path

from packaging.markers import Marker
from packaging.tags import sys_tags
from packaging.utils import canonicalize_name, parse_wheel_filename

ROOT = Path(__file__).resolve().parent.parent
CUDA_PREFIXES = ("nvidia-", "cuda-", "triton")


def lock_files() -> tuple[dict[tuple[str, str], list[dict]], dict[str, int]]:
    """uv.lock's files by (name, version), wheels first then the sdist, and every recorded size by URL."""
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    wheels, sizes = {}, {}
    for package in lock["package"]:
        files = package.get("wheels", [])
        wheels[(canonicalize_name(package["name"]), package.get("version", ""))] = files + (
            [package["sdist"]] if "sdist" in package else []
        )
        for f in files + ([package["sdist"]] if "sdist" in package else []):
            if "size" in f:
                sizes[f["url"]] = f["size"]
    return wheels, sizes


def best_wheel(files: list[dict]) -> dict | None:
    """The file this interpreter would download: the wheel of its most preferred tag, else the sdist."""
    rank = {tag: i for i, tag in enumerate(sys_tags())}
    scored = []
    wheels = [f for f in files if f["url"].endswith(".whl")]
    if not wheels:  # a source-only package (rouge-score): its sdist is what gets downloaded
        return next(iter(files), None)
    for f in wheels:
        tags = parse_wheel_filename(f["url"].rsplit("/", 1)[1])[3]
        best = min((rank[t] for t in tags if t in rank), default=None)
        if best is not None:
            scored.append((best, f))
    return min(scored, key=lambda s: s[0])[1] if scored else None


def uv_install_set(extra_args: list[str]) -> list[tuple[str, str]]:
    """(name, version) that `uv run` would install on this machine, from `uv export` with markers evaluated."""
    out = subprocess.run(
        ["uv", "export", "--locked", "--no-hashes", "--no-emit-project", "--no-annotate", "--no-header", *extra_args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    found = []
    for line in out.splitlines():
        if "==" not in line or line.startswith(("#", " ")):
            continue
        spec, _, marker = line.partition(";")
        if marker.strip() and not Marker(marker.strip()).evaluate():
            continue
        name, version = spec.strip().split("==")
        found.append((canonicalize_name(name), version))
    return found


def head_size(url: str) -> int:
    request = urllib.request.Request(url, method="HEAD")
    with urllib.request.urlopen(request, timeout=30) as response:
        return int(response.headers["Content-Length"])


def report(rows: list[tuple[str, int]], cpu_torch_bytes: int | None) -> None:
    total = sum(size for _, size in rows)
    cuda = sum(size for name, size in rows if name == "torch" or name.startswith(CUDA_PREFIXES))
    print(f"{len(rows)} files, {total / 1e9:.2f} GB in all; torch with its CUDA packages {cuda / 1e9:.2f} GB")
    for name, size in sorted(rows, key=lambda r: -r[1])[:8]:
        print(f"  {name:<28} {size / 1e6:8.1f} MB")
    if cpu_torch_bytes is not None:
        cpu = total - cuda + cpu_torch_bytes
        print(f"CPU-only (torch's CPU wheel of {cpu_torch_bytes / 1e6:.0f} MB instead): {cpu / 1e9:.2f} GB")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", choices=["uv", "pip"])
    parser.add_argument("--report", help="the pip path: a `pip install --dry-run --report` JSON file")
    parser.add_argument(
        "--export-args", default="", help="the uv path: extra `uv export` arguments (e.g. --export-args=--no-dev)"
    )
    parser.add_argument("--cpu-torch-bytes", type=int, help="size of the CPU torch wheel, for the CPU-only figure")
    args = parser.parse_args(argv)
    wheels, sizes = lock_files()
    rows = []
    if args.path == "uv":
        for name, version in uv_install_set(args.export_args.split()):
            wheel = best_wheel(wheels.get((name, version), []))
            if wheel is None:
                raise SystemExit(f"no wheel of {name} {version} for this machine in uv.lock")
            rows.append((name, wheel["size"]))
    else:
        for item in json.loads(Path(args.report).read_text())["install"]:
            url = item["download_info"]["url"]
            if url.startswith("file:") and "dir_info" in item["download_info"]:
                continue  # the project itself
            name = canonicalize_name(item["metadata"]["name"])
            if url.startswith("file:"):
                rows.append((name, Path(url.removeprefix("file://")).stat().st_size))
            else:
                rows.append((name, sizes.get(url) or head_size(url)))
    report(rows, args.cpu_torch_bytes)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
