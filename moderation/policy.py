"""From scores to verdicts, and from findings to a risk and a recommendation per destination."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from moderation.schemas import Action, Destination, DestinationRecommendation, Finding, Verdict
from moderation.settings import CheckSettings, PolicySettings

_SEVERITY = {Action.APPROVE: 0, Action.REVIEW: 1, Action.REJECT: 2}
ERROR_SCORE = 0.5  # a check that failed to run says nothing either way


def verdict_for(score: float, thresholds: CheckSettings) -> Verdict:
    if score >= thresholds.fail_at:
        return Verdict.FAIL
    if score < thresholds.pass_below:
        return Verdict.PASS
    return Verdict.UNCERTAIN


def on_scale(probability: float, threshold: float, fail_at: float) -> float:
    """A model's probability mapped piecewise-linearly so that the threshold registered with
    its version (chosen on validation data) lands on the check's `fail_at`: retraining moves
    the threshold without editing settings."""
    threshold = min(max(threshold, 1e-3), 1 - 1e-3)
    if probability < threshold:
        return fail_at * probability / threshold
    return fail_at + (1.0 - fail_at) * (probability - threshold) / (1.0 - threshold)


def risk_of(findings: Iterable[Finding]) -> float:
    """The highest probability that any rule is broken (0 when nothing was found)."""
    return round(max((finding.score for finding in findings), default=0.0), 4)


def _action_for(finding: Finding, thresholds: CheckSettings) -> Action:
    if finding.verdict is Verdict.FAIL:
        return Action(thresholds.on_fail)
    if finding.verdict is Verdict.UNCERTAIN:
        return Action(thresholds.on_uncertain)
    if finding.verdict is Verdict.ERROR:
        return Action.REVIEW  # never approve what was not checked
    return Action.APPROVE


def recommend(
    findings: list[Finding],
    gates: Mapping[str, frozenset[Destination]],
    thresholds: Mapping[str, CheckSettings],
    policy: PolicySettings,
) -> dict[Destination, DestinationRecommendation]:
    """`gates` maps each check that ran to the destinations it gates."""
    recommendations = {}
    for destination in Destination:
        weighed: list[tuple[Action, float, str]] = []
        for finding in findings:
            if destination not in gates.get(finding.check, frozenset()):
                continue
            action = _action_for(finding, thresholds[finding.check])
            if action is not Action.APPROVE:
                weighed.append((action, finding.score, f"{finding.check}: {finding.reason}"))
        for rule in policy.expected_checks.get(destination.value, []):
            if rule not in gates:
                weighed.append((Action.REVIEW, 0.0,
                                f"{rule}: not checked automatically; check it by eye"))
        weighed.sort(key=lambda item: (_SEVERITY[item[0]], item[1]), reverse=True)
        action = weighed[0][0] if weighed else Action.APPROVE
        recommendations[destination] = DestinationRecommendation(
            action=action, reasons=[reason for _, _, reason in weighed])
    return recommendations
