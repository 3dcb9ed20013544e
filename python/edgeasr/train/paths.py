"""Where generated data and checkpoints live: a cache outside the repository, surviving restarts."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """``$EDGEASR_CACHE`` if set, else ``~/.cache/edgeasr``; created on first use."""
    root = Path(os.environ.get("EDGEASR_CACHE") or Path.home() / ".cache" / "edgeasr")
    root.mkdir(parents=True, exist_ok=True)
    return root
