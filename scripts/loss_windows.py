"""Mean logged training loss of a run over windows of steps, from its metrics.jsonl (edgeasr.train writes a line
every ``log_every`` steps): whether a run has flattened, or how two runs compare late in training.

    python scripts/loss_windows.py ~/.cache/edgeasr/runs/student-v5-qat4-sparse50 1000:1500 1500:2000 2000:2460

A window START:END takes the logged steps with START < step <= END.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def window(spec: str) -> tuple[int, int]:
    start, sep, end = spec.partition(":")
    try:
        a, b = int(start), int(end)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{spec!r}: expected START:END (integers)") from None
    if not sep or a >= b:
        raise argparse.ArgumentTypeError(f"{spec!r}: expected START:END with START < END")
    return a, b


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run", type=Path, help="a run directory (holding metrics.jsonl)")
    p.add_argument("windows", type=window, nargs="+", help="START:END step windows")
    args = p.parse_args()
    rows = [json.loads(line) for line in (args.run.expanduser() / "metrics.jsonl").read_text().splitlines()
            if line.strip()]
    losses = [(r["step"], r["loss"]) for r in rows if "loss" in r]
    for a, b in args.windows:
        inside = [loss for step, loss in losses if a < step <= b]
        mean = f"{sum(inside) / len(inside):.2f}" if inside else "-"
        print(f"steps {a}-{b}: mean loss {mean} over {len(inside)} logged steps")


if __name__ == "__main__":
    main()
