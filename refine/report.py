"""The HTML report (``refine report``): a study or a lineage of studies, in one self-contained file.

:func:`build_report` reads each study, refines it exactly as ``refine
next-space`` would (nothing is written) and draws, with plotly (its JavaScript
inlined, so the file opens offline):

- the lineage: every trial's value per stage and the best value per stage;
- per study, the diff table of the next space and the rationale's red flags;
- per numeric parameter, value against objective with the elites highlighted,
  the best trial marked, and the current and next ranges drawn as bands;
- per categorical parameter, trials and elite share per choice, with the
  current and next weights.

The page sets ``data-refine-report="ready"`` (and ``data-refine-plots``) on
``<body>`` once every plot has rendered, and lists any JavaScript error in
``#refine-report-errors`` (their count in ``data-refine-errors``): a headless
browser can check both (``scripts/render_report.py``).

The page is refine/templates/report.html.j2, rendered by jinja2 with
autoescape on: every value is escaped and redacted (no password of a storage
URL) by the template, and only the plots and plotly.js are inserted as markup.

Needs the ``report`` extra (``pip install 'refine[report]'``: plotly, jinja2).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import attrs
import numpy as np
from attrs import frozen

from refine.errors import RefineError
from refine.report_figures import CHANGE_COLOURS, categorical_figure, lineage_figure, metric_label, numeric_figure
from refine.space import CategoricalParam, FloatParam, IntParam, Space
from refine.study import COMPLETE, StudyData, list_studies, read_study, redact

__all__ = ["StageReport", "build_report", "write_report", "lineage_order"]


@frozen
class StageReport:
    """One study of the report, read and refined.

    Attributes:
        name: The study's name.
        data: The study as read.
        refinement: What ``refine next-space`` would do with it (None when it cannot).
        problem: Why there is no refinement (None when there is one).
    """

    name: str
    data: StudyData = attrs.field(repr=False)
    refinement: Any = attrs.field(repr=False)
    problem: str | None = None

    @property
    def space(self) -> Space:
        return self.refinement.previous if self.refinement is not None else self.data.space

    @property
    def complete(self) -> np.ndarray:
        values = self.data.values[:, 0] if self.data.values.size else np.full(self.data.n_trials, np.nan)
        return (self.data.states == COMPLETE) & np.isfinite(values)

    @property
    def elites(self) -> np.ndarray:
        if self.refinement is None:
            return np.zeros(self.data.n_trials, dtype=bool)
        return np.asarray(self.refinement.evidence.elites, dtype=bool)

    @property
    def maximize(self) -> bool:
        return self.data.directions[0] == "maximize"

    def best(self) -> tuple[int, float] | None:
        """Row and value of the best trial the stage ran itself (first objective; a warm start's history is its
        parent's)."""
        from refine.ranking import best_rows, own_rows

        own = own_rows(self.data)
        if len(self.data.directions) > 1:  # the lineage plots the first objective
            ok = self.complete & own
            if not ok.any():
                return None
            values = np.where(ok, self.data.values[:, 0], -np.inf if self.maximize else np.inf)
            row = int(np.argmax(values) if self.maximize else np.argmin(values))
            return row, float(values[row])
        rows = best_rows(self.data, own)
        return (rows[0], float(self.data.values[rows[0], 0])) if rows else None


def lineage_order(storage: str, names: Sequence[str] | None = None) -> list[str]:
    """The studies to report, oldest stage first.

    Given names keep their order. Otherwise every study in the storage, with
    parents (``refine:parent_study``) before children, then by space version
    (``refine:version``) and name.
    """
    if names:
        return list(dict.fromkeys(names))
    summaries = list_studies(storage)
    if not summaries:
        raise RefineError(f"{redact(storage)} holds no study to report on")
    attrs_of = {s.name: s.user_attrs for s in summaries}

    def depth(name: str, seen: tuple[str, ...] = ()) -> int:
        parent = attrs_of.get(name, {}).get("refine:parent_study")
        parent = str(parent).rsplit(":", 1)[-1] if parent else None
        if not parent or parent not in attrs_of or parent in seen:
            return 0
        return 1 + depth(parent, seen + (name,))

    def version(name: str) -> int:
        try:
            return int(attrs_of[name].get("refine:version") or 0)
        except (TypeError, ValueError):
            return 0

    return sorted(attrs_of, key=lambda n: (depth(n), version(n), n))


def _stage(storage: str, name: str, config: bool, settings: dict[str, Any]) -> StageReport:
    from refine.engine import next_space

    data = read_study(storage, name)
    try:
        refinement = next_space(data, config=config, **settings)
    except RefineError as exc:
        return StageReport(name, data, None, str(exc))
    return StageReport(name, data, refinement)


# --------------------------------------------------------------------------- HTML


def _redacted(value: Any) -> Any:
    """What the template prints: every value with passwords hidden; safe markup (plots) as it is."""
    from markupsafe import Markup

    if isinstance(value, Markup):
        return value
    return redact("" if value is None else str(value))


def _template():
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("refine", "templates"),
        autoescape=True,
        finalize=_redacted,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    return env.get_template("report.html.j2")


class _Page:
    """Collects figures; each becomes a div whose plot is drawn by the inlined plotly.js."""

    def __init__(self) -> None:
        self.count = 0

    def figure(self, fig) -> Any:
        from markupsafe import Markup

        self.count += 1
        div_id = f"refine-plot-{self.count}"
        return Markup(
            fig.to_html(
                full_html=False,
                include_plotlyjs=False,
                div_id=div_id,
                config={"displaylogo": False, "displayModeBar": False, "responsive": True},
                post_script="__refinePlotted();",
            )
        )


def _stage_view(page: _Page, stage: StageReport) -> dict[str, Any]:
    """What the template shows of one stage; its plots are drawn (numbered) in page order."""
    data, space = stage.data, stage.space
    counts = ", ".join(f"{k} {v}" for k, v in data.counts().items()) or "no trials"
    best = stage.best()
    meta = f"{counts}; {', '.join(data.directions)}"
    if best is not None:
        meta += f"; best {metric_label(stage)} {best[1]:.5g} (trial {int(data.numbers[best[0]])})"
    if data.space_source != "remembered":
        meta += "; space inferred from the trials (the study was not run by refine)"
    view: dict[str, Any] = {"name": stage.name, "space_name": space.name, "version": space.version, "meta": meta}
    if stage.refinement is None:
        view["problem"] = stage.problem
    else:
        r = stage.refinement
        rationale = r.rationale
        decisions = []
        for d in rationale.get("decisions", []):
            change = d.get("change", d.get("action", ""))
            decisions.append(
                {
                    "param": d["param"],
                    "old": d.get("old", ""),
                    "new": d.get("new", ""),
                    "change": change,
                    "colour": CHANGE_COLOURS.get(change, "#333"),
                    "rule": d.get("rule", ""),
                    "reason": d.get("reason", ""),
                }
            )
        view.update(
            problem=None,
            previous_version=r.previous.version,
            next_version=r.space.version,
            elites=rationale.get("elites", {}).get("definition", ""),
            decisions=decisions,
            flags=rationale.get("red_flags", []),
        )
    # numeric plots first, then categorical, each in the space's order (the figures are numbered in page order)
    numeric = [(n, p) for n, p in space.params.items() if isinstance(p, (FloatParam, IntParam))]
    categorical = [(n, p) for n, p in space.params.items() if isinstance(p, CategoricalParam)]
    view["numeric_plots"] = [page.figure(numeric_figure(stage, n, p)) for n, p in numeric]
    view["categorical_plots"] = [page.figure(categorical_figure(stage, n, p)) for n, p in categorical]
    return view


def build_report(
    storage: str | os.PathLike,
    studies: Sequence[str] | None = None,
    *,
    title: str | None = None,
    config: bool = False,
    **settings: Any,
) -> str:
    """The report's HTML: one self-contained page for a study or a lineage.

    Args:
        storage: A SQLite file, storage URL or journal file.
        studies: The studies to show, oldest stage first; default every study
            in the storage, parents before children.
        title: The page's title (default: from the space's name).
        config: Read ``[tool.refine]`` / ``refine.toml`` from the current
            directory, as ``refine next-space`` does.
        **settings: Refinement settings, as for :func:`refine.next_space`.

    Returns:
        The HTML text.

    Raises:
        RefineError: plotly or jinja2 is missing, or a storage or study cannot be read.
    """
    try:
        import jinja2  # noqa: F401 - the page's template
        import plotly
        from plotly.offline import get_plotlyjs
    except ImportError as e:
        raise RefineError(
            f"the report needs {e.name}: pip install 'refine[report]' (or pip install plotly jinja2)"
        ) from None
    from markupsafe import Markup

    storage = str(storage)
    names = lineage_order(storage, studies)
    stages = [_stage(storage, name, config, settings) for name in names]
    page = _Page()
    summary = []
    for s in stages:
        best = s.best()
        parent = s.data.study_user_attrs.get("refine:parent_study")
        nxt = (
            f"v{s.refinement.space.version}: {sum(d.action != 'keep' for d in s.refinement.decisions)} changes"
            if s.refinement
            else (s.problem or "")
        )
        summary.append(
            {
                "name": s.name,
                "version": s.space.version,
                "complete": int(s.complete.sum()),
                "best": "-" if best is None else f"{best[1]:.5g}",
                "parent": str(parent).rsplit(":", 1)[-1] if parent else "",
                "next": nxt,
            }
        )
    lineage_plot = page.figure(lineage_figure(stages))
    views = [_stage_view(page, s) for s in stages]
    for row, view in zip(summary, views):
        view.update({k: row[k] for k in ("complete", "best", "parent", "next")})
    return _template().render(
        heading=title or (f"refine report: {stages[0].space.name}" if stages else "refine report"),
        storage=storage,
        stages=views,
        metric=metric_label(stages[0]),
        refine_version=_version(),
        plotly_version=plotly.__version__,
        plotlyjs=Markup(get_plotlyjs()),
        lineage_plot=lineage_plot,
        plot_count=page.count,
    )


def _version() -> str:
    from refine import __version__

    return __version__


def write_report(
    storage: str | os.PathLike,
    studies: Sequence[str] | None = None,
    *,
    out: str | os.PathLike = "report.html",
    title: str | None = None,
    config: bool = False,
    force: bool = False,
    **settings: Any,
) -> Path:
    """Write :func:`build_report`'s page to ``out`` and return its path.

    An HTML file at ``out`` (an earlier report) is replaced; any other file only with ``force``.
    """
    from refine.files import atomic_write, refuse_overwriting_inputs, refuse_replacing_another_file

    source = os.fspath(storage)
    refuse_overwriting_inputs(out, (source, source.removeprefix("sqlite:///")))
    refuse_replacing_another_file(
        out,
        ours=lambda text: text.lstrip()[:15].lower().startswith(("<!doctype html", "<html")),
        kind="an HTML file",
        force=force,
    )
    text = build_report(storage, studies, title=title, config=config, **settings)
    return Path(atomic_write(out, text, overwrite=True))
