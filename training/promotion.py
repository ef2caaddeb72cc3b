"""The promotion gate: a new version is served only when it is not worse than the one served
now, on the metric the run's config names, on the same test split."""

from __future__ import annotations

from dataclasses import dataclass

from training.config import PromotionSettings

SHOWN_METRICS = ("auroc", "average_precision", "precision", "recall", "f1", "accuracy",
                 "threshold")


@dataclass(frozen=True)
class Verdict:
    promote: bool
    reason: str


def judge(candidate: dict[str, float | None], promoted: dict[str, float | None] | None,
          rule: PromotionSettings) -> Verdict:
    metric = rule.metric
    new = candidate.get(metric)
    if new is None:
        return Verdict(False, f"the test split cannot measure {metric} (it needs both labels); "
                              "export more decided cases")
    if promoted is None:
        return Verdict(True, "no version is promoted yet")
    old = promoted.get(metric)
    if old is None:
        return Verdict(True, f"the promoted version has no {metric} on this split")
    if new >= old - rule.margin:
        return Verdict(True, f"{metric} {new:.4f} vs {old:.4f} served: not worse "
                             f"(margin {rule.margin})")
    return Verdict(False, f"{metric} {new:.4f} is worse than the served version's {old:.4f} "
                          f"by {old - new:.4f}, more than the margin {rule.margin}")


def comparison_table(candidate: dict[str, float | None], promoted: dict[str, float | None] | None,
                     candidate_name: str, promoted_name: str, metric: str) -> str:
    """Markdown: the figures side by side, the gate's metric marked."""
    lines = [f"| metric (test split) | {candidate_name} | {promoted_name} | difference |",
             "|---|---|---|---|"]
    for name in SHOWN_METRICS + ("n", "broken"):
        new = candidate.get(name)
        old = (promoted or {}).get(name)
        difference = ""
        if isinstance(new, float | int) and isinstance(old, float | int):
            difference = f"{new - old:+d}" if isinstance(new - old, int) else f"{new - old:+.4f}"
        marker = " (gate)" if name == metric else ""
        lines.append(f"| {name}{marker} | {_fmt(new)} | {_fmt(old)} | {difference} |")
    return "\n".join(lines)


def _fmt(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.4f}" if isinstance(value, float) else str(value)
