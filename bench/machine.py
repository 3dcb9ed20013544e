"""What every benchmark report records about where it ran: CPU, package versions, git revision."""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path
from typing import Iterable, Optional

REPO = Path(__file__).resolve().parent.parent


def cpu_description() -> dict:
    """CPU model, its SIMD flags, logical CPUs and those this process may use."""
    model, flags = platform.processor(), []
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() in ("flags", "Features") and not flags:
                flags = value.split()
    simd = sorted(f for f in flags if f in ("avx", "avx2", "fma", "avx_vnni") or f.startswith(("avx512", "amx")))
    return {"model": model, "simd_flags": simd, "logical_cpus": os.cpu_count(),
            "cpus_available": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None}


def package_versions(packages: Iterable[str]) -> dict:
    """Python's version and each installed package's (None when missing)."""
    out = {"python": platform.python_version()}
    for pkg in packages:
        try:
            out[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            out[pkg] = None
    return out


def git_revision() -> Optional[str]:
    """Short HEAD hash of this repository, with "-dirty" when the working tree has changes."""
    try:
        rev = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain"], capture_output=True,
                               text=True).stdout.strip()
        return rev + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return None  # no git, or no commit yet
