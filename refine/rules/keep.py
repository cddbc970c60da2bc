"""keep: the default when the evidence is weak or underpowered; it says why (rho, p, n, and the model's test when one is
in force)."""

from __future__ import annotations

from refine import hookimpl
from refine.decisions import Proposal
from refine.rules._common import fmt, model_test, model_text


@hookimpl(trylast=True)
def refine_propose(name, param, evidence, study_evidence, settings):
    n_complete = study_evidence.n_ranked
    if n_complete < settings.min_complete:
        reason = (
            f"only {n_complete} ranked COMPLETE trials (< min_complete {settings.min_complete}): not enough "
            "evidence to change anything"
        )
    elif study_evidence.flat:
        reason = "every ranked trial has the same value: no evidence either way, so the range stays"
    elif study_evidence.near_noise:
        reason = (
            f"the evidence is within noise: repeated configurations show a noise SD of {study_evidence.noise_sd:.3g}, "
            "at least two thirds of the objective's whole spread, so the range stays"
        )
    elif evidence.n == 0:
        reason = "never active in a ranked trial: no evidence"
    elif evidence.kind == "numeric":
        reason = (
            f"no clear signal: rho={evidence.rho:+.2f} (p={evidence.p:.2g}, n={evidence.n}), "
            f"elites vs the other trials p={evidence.ks_p:.2g} (KS or span test), elites at edges "
            f"{evidence.edge_low_share:.0%}/{evidence.edge_high_share:.0%}"
        )
    else:
        top = evidence.stats(evidence.top_choice)
        reason = (
            f"no decisive choice: top {fmt(evidence.top_choice)} holds {evidence.elite_convergence:.0%} of elites "
            f"({top.trials} trials), Kruskal-Wallis p={evidence.p:.2g}, n={evidence.n}"
        )
    model = model_test(name, study_evidence, settings) if evidence.n and reason.startswith("no ") else None
    if model is not None:
        reason += f"; {model_text(model)}"
    return Proposal(
        param=name,
        action="keep",
        rule="keep",
        new=param,
        reason=reason,
        evidence={"n": evidence.n} | ({"decided_by": [model]} if model is not None else {}),
    )
