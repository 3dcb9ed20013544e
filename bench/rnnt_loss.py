"""How fast is edgeasr's RNN-T loss next to the textbook double loop over (t, u), on the CPU?

    python bench/rnnt_loss.py                  # N=16 T=100 U=25 V=256, one thread: bench/results/rnnt_loss.json
    python bench/rnnt_loss.py --threads 1,2    # two threads too: only on an otherwise idle machine, since
                                               # torch's threads wait on each other when another process holds a core

Both implementations get the same logits and targets; the double loop is vectorised over the batch only and
differentiated by autograd, which is how an RNN-T loss is first written. The last row is a yardstick, not a loss:
torch's log_softmax over the same logits, forward and autograd backward, with no lattice at all.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import time
from pathlib import Path

import torch

from edgeasr.train.loss import rnnt_loss

REPO = Path(__file__).resolve().parents[1]


def naive_rnnt_loss(logits, targets, logit_lengths, target_lengths, blank=0):
    """alpha one node at a time, in Python; mean over the batch, like rnnt_loss."""
    lp = logits.log_softmax(-1)
    n, t_max, u1, _ = lp.shape
    blank_lp = lp[..., blank]
    emit_lp = lp[:, :, : u1 - 1].gather(-1, targets[:, None, :, None].expand(n, t_max, u1 - 1, 1)).squeeze(-1)
    alpha = [[None] * u1 for _ in range(t_max)]
    for t in range(t_max):
        for u in range(u1):
            if t == 0 and u == 0:
                a = lp.new_zeros(n)
            elif t == 0:
                a = alpha[0][u - 1] + emit_lp[:, 0, u - 1]
            elif u == 0:
                a = alpha[t - 1][0] + blank_lp[:, t - 1, 0]
            else:
                a = torch.logaddexp(alpha[t - 1][u] + blank_lp[:, t - 1, u], alpha[t][u - 1] + emit_lp[:, t, u - 1])
            alpha[t][u] = a
    ll = torch.stack([alpha[t - 1][u][i] + blank_lp[i, t - 1, u]
                      for i, (t, u) in enumerate(zip(logit_lengths.tolist(), target_lengths.tolist()))])
    return -ll.mean()


def log_softmax_alone(logits, *_):
    """The yardstick: one log-softmax over the logits and its backward, nothing else."""
    return logits.log_softmax(-1)[..., 0].mean()


IMPLS = {
    "edgeasr rnnt_loss": rnnt_loss,
    "naive double loop (autograd)": naive_rnnt_loss,
    "log_softmax alone (autograd)": log_softmax_alone,
}


def run_once(fn, logits, targets, lengths, u_lengths):
    x = logits.detach().clone().requires_grad_(True)
    t0 = time.perf_counter()
    loss = fn(x, targets, lengths, u_lengths)
    t1 = time.perf_counter()
    loss.backward()
    t2 = time.perf_counter()
    return (t1 - t0) * 1e3, (t2 - t0) * 1e3, loss.detach(), x.grad


def time_impls(logits, targets, lengths, u_lengths, repeats):
    """{name: (median forward ms, median fwd+bwd ms, min fwd+bwd ms, loss, grad)}; implementations take turns, so
    that load from other processes falls on all of them alike."""
    samples = {name: [] for name in IMPLS}
    last = {}
    for i in range(repeats + 1):  # round 0 warms up
        for name, fn in IMPLS.items():
            fwd, both, loss, grad = run_once(fn, logits, targets, lengths, u_lengths)
            last[name] = (loss, grad)
            if i:
                samples[name].append((fwd, both))
    return {name: (statistics.median(f for f, _ in s), statistics.median(b for _, b in s), min(b for _, b in s),
                   *last[name]) for name, s in samples.items()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shape", type=int, nargs=4, default=[16, 100, 25, 256], metavar=("N", "T", "U", "V"))
    ap.add_argument("--threads", type=str, default="1", help="comma-separated torch thread counts")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "rnnt_loss.json")
    args = ap.parse_args(argv)

    n, t_max, u_max, vocab = args.shape
    load_at_start = os.getloadavg()
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(n, t_max, u_max + 1, vocab, generator=gen)
    targets = torch.randint(1, vocab, (n, u_max), generator=gen)
    lengths = torch.full((n,), t_max)
    u_lengths = torch.full((n,), u_max)

    rows = []
    for threads in [int(x) for x in args.threads.split(",")]:
        torch.set_num_threads(threads)
        results = time_impls(logits, targets, lengths, u_lengths, args.repeats)
        ours = results["edgeasr rnnt_loss"]
        naive = results["naive double loop (autograd)"]
        agree = {"loss_abs_diff": float((ours[3] - naive[3]).abs()),
                 "grad_max_abs_diff": float((ours[4] - naive[4]).abs().max())}
        for name, (fwd, both, best, _, _) in results.items():
            rows.append({"impl": name, "threads": threads, "forward_ms": round(fwd, 2),
                         "forward_backward_ms": round(both, 2), "forward_backward_min_ms": round(best, 2),
                         "naive_over_this": round(naive[1] / both, 2),
                         **(agree if name == "naive double loop (autograd)" else {})})

    header = f"RNN-T loss, N={n} T={t_max} U={u_max} V={vocab}; median of {args.repeats} (min in brackets)"
    print(header)
    print(f"| {'implementation':<30} | threads | forward ms | fwd+bwd ms      | naive / this |")
    print(f"|{'-' * 32}|---------|------------|-----------------|--------------|")
    for r in rows:
        both = f"{r['forward_backward_ms']:.1f} ({r['forward_backward_min_ms']:.1f})"
        print(f"| {r['impl']:<30} | {r['threads']:>7} | {r['forward_ms']:>10.1f} | {both:>15} "
              f"| {r['naive_over_this']:>12.2f} |")
    for r in rows:
        if "loss_abs_diff" in r:
            print(f"threads={r['threads']}: naive vs edgeasr: loss |diff| {r['loss_abs_diff']:.2e}, "
                  f"grad max |diff| {r['grad_max_abs_diff']:.2e}")

    report = {
        "question": "RNN-T loss forward+backward time, edgeasr vs a Python double loop",
        "shape": {"N": n, "T": t_max, "U": u_max, "V": vocab},
        "repeats": args.repeats,
        "timing": "perf_counter around forward and backward; median over repeats, implementations interleaved",
        "rows": rows,
        "machine": {"processor": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
                    "load_average_at_start": load_at_start, "load_average_at_end": os.getloadavg()},
        "versions": {"python": platform.python_version(), "torch": torch.__version__},
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "reproduce": "python bench/rnnt_loss.py",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {args.out.relative_to(REPO) if args.out.is_relative_to(REPO) else args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
