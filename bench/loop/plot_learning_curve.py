"""The learning curve of bench_active_vs_random.py: AP50 against the labeling budget, active (the collector's frames)
and random (uniform frames of the same run), drifted and nominal cameras apart; each seed (and labeled subset,
--draws) a thin line, the mean bold, the parent (parts-v1) dashed.

    python3 bench/loop/plot_learning_curve.py ROWS.json OUT.png     (a Python with matplotlib)
"""
import json
import sys

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(rows_path, out):
    rows = json.load(open(rows_path))
    budgets = sorted({r["budget"] for r in rows})
    seeds = sorted({r["seed"] for r in rows})
    curves = sorted({(r["seed"], r.get("draw", 0)) for r in rows})  # one thin line per seed and labeled subset
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, group in zip(axes, ("drifted", "nominal")):
        for arm, key, colour in (("active (collector)", "b", "#d62728"), ("random", "a", "#1f77b4")):
            for c in curves:
                pts = sorted((r["frames"], r[group][key]) for r in rows if (r["seed"], r.get("draw", 0)) == c)
                ax.plot(*zip(*pts), color=colour, alpha=0.25, lw=1)
            xs, mean = [], []
            for b in budgets:
                rs = [r for r in rows if r["budget"] == b]
                xs.append(sum(r["frames"] for r in rs) / len(rs))
                mean.append(sum(r[group][key] for r in rs) / len(rs))
            ax.plot(xs, mean, color=colour, lw=2.5, marker="o", label=arm + " (mean)")
        parent = rows[0][group]["parent"]
        ax.axhline(parent, color="grey", ls="--", lw=1.2, label=f"parts-v1 (parent) {parent:.3f}")
        ax.set_xscale("log")
        ax.set_xticks(budgets)
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xticklabels([str(b) for b in budgets])
        ax.set_xlabel("labeled frames (budget)")
        ax.set_ylabel("AP50 on held-out frames")
        ax.set_title(f"{group} cameras" + (" (lighting, novel part, blur)" if group == "drifted" else ""))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="best")
    fig.suptitle(f"Active vs random selection at the same labeling budget ({len(seeds)} seeds; fine-tuned from parts-v1)")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
