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

import html
import math
import os
from pathlib import Path
from typing import Any, Sequence

import attrs
import numpy as np
from attrs import frozen

from refine.errors import RefineError
from refine.space import CategoricalParam, FloatParam, IntParam, Space
from refine.study import COMPLETE, StudyData, list_studies, read_study, redact

__all__ = ["StageReport", "build_report", "write_report", "lineage_order"]

_ELITE = "#d62728"
_TRIAL = "rgba(90, 100, 120, 0.45)"
_OLD = "rgba(120, 120, 120, 0.14)"
_NEW = "rgba(44, 160, 44, 0.20)"
_CHANGE_COLOURS = {
    "kept": "#666",
    "narrowed": "#1f77b4",
    "expanded": "#2ca02c",
    "shifted": "#2ca02c",
    "fixed": "#9467bd",
    "biased": "#ff7f0e",
    "dropped": "#d62728",
    "added": "#17becf",
}


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


# --------------------------------------------------------------------------- figures


def _fmt(x: Any) -> str:
    if isinstance(x, float):
        return f"{x:.4g}"
    return str(x)


def _metric(stage: StageReport) -> str:
    return stage.space.metric_label or "objective"


def _lineage_figure(stages: Sequence[StageReport]):
    import plotly.graph_objects as go

    fig = go.Figure()
    names = [s.name for s in stages]
    rng = np.random.default_rng(0)
    for i, s in enumerate(stages):
        ok = s.complete
        y = s.data.values[ok, 0] if ok.any() else np.array([])
        fig.add_trace(
            go.Scatter(
                x=i + rng.uniform(-0.18, 0.18, len(y)),
                y=y,
                mode="markers",
                marker={"color": _TRIAL, "size": 6},
                name="trials",
                legendgroup="trials",
                showlegend=i == 0,
                hovertemplate=f"{html.escape(s.name, quote=False)}<br>value %{{y:.5g}}<extra></extra>",
            )
        )
    bests = [s.best() for s in stages]
    xs = [i for i, b in enumerate(bests) if b is not None]
    fig.add_trace(
        go.Scatter(
            x=xs,
            y=[bests[i][1] for i in xs],
            mode="lines+markers+text",
            text=[f"{bests[i][1]:.4g}" for i in xs],
            textposition="top center",
            marker={"color": _ELITE, "size": 11, "symbol": "star"},
            line={"color": _ELITE},
            name="best per stage",
        )
    )
    fig.update_layout(
        title="Best value per stage",
        xaxis={
            "tickmode": "array",
            "tickvals": list(range(len(names))),
            "ticktext": names,
            "title": "stage (study)",
            "range": [-0.5, len(names) - 0.5],
        },
        yaxis={"title": _metric(stages[0])},
        height=380,
        margin={"t": 50, "b": 50, "l": 60, "r": 20},
        legend={"orientation": "h", "y": -0.2},
    )
    return fig


def _band(fig, low: float, high: float, colour: str, label: str, *, log: bool, right: bool) -> None:
    # On a log axis plotly places shapes in data units but annotations in log10 units.
    fig.add_vrect(x0=low, x1=high, fillcolor=colour, line_width=0, layer="below")
    at = high if right else low
    fig.add_annotation(
        x=math.log10(at) if log else at,
        y=1,
        yref="y domain",
        text=label,
        showarrow=False,
        xanchor="right" if right else "left",
        yanchor="top",
        font={"size": 10, "color": "#2ca02c" if right else "#555"},
    )


def _numeric_figure(stage: StageReport, name: str):
    import plotly.graph_objects as go

    data, old = stage.data, stage.space.params[name]
    new_space = stage.refinement.space if stage.refinement is not None else None
    col = data.columns.get(name)
    ok = stage.complete & np.isfinite(col) if col is not None else np.zeros(data.n_trials, dtype=bool)
    elites = stage.elites & ok
    y = data.values[:, 0] if data.values.size else np.full(data.n_trials, np.nan)
    fig = go.Figure()
    for mask, label, colour, size in ((ok & ~elites, "trials", _TRIAL, 7), (elites, "elites", _ELITE, 9)):
        fig.add_trace(
            go.Scatter(
                x=col[mask] if col is not None else [],
                y=y[mask],
                mode="markers",
                name=label,
                marker={"color": colour, "size": size, "line": {"width": 0.5, "color": "white"}},
                customdata=data.numbers[mask],
                hovertemplate=f"trial %{{customdata}}<br>{html.escape(name, quote=False)} %{{x:.4g}}<br>value "
                "%{y:.5g}<extra></extra>",
            )
        )
    best = stage.best()
    if best is not None and col is not None and math.isfinite(col[best[0]]):
        fig.add_trace(
            go.Scatter(
                x=[col[best[0]]],
                y=[best[1]],
                mode="markers",
                name="best",
                marker={"symbol": "star", "size": 15, "color": "#ffbf00", "line": {"width": 1, "color": "black"}},
            )
        )
    log = isinstance(old, FloatParam) and old.log
    _band(fig, old.low, old.high, _OLD, f"v{stage.space.version}", log=log, right=False)
    title = f"{name}"
    if new_space is not None:
        new = new_space.params.get(name)
        if isinstance(new, (FloatParam, IntParam)):
            _band(fig, new.low, new.high, _NEW, f"v{new_space.version}", log=log, right=True)
            title += f": [{_fmt(old.low)}, {_fmt(old.high)}] → [{_fmt(new.low)}, {_fmt(new.high)}]"
        elif name in new_space.fixed:
            fig.add_vline(x=new_space.fixed[name], line_color="#9467bd", line_width=3)
            title += f": fixed at {_fmt(new_space.fixed[name])}"
        else:
            title += ": dropped"
    fig.update_layout(
        title={"text": html.escape(title, quote=False), "font": {"size": 14}},
        xaxis={"title": name, "type": "log" if log else "linear"},
        yaxis={"title": _metric(stage)},
        height=320,
        margin={"t": 45, "b": 45, "l": 55, "r": 15},
        legend={"orientation": "h", "y": -0.25, "font": {"size": 10}},
    )
    return fig


def _weights(p: CategoricalParam | None) -> dict[Any, float]:
    if p is None:
        return {}
    w = list(p.weights) if p.weights else [1.0] * len(p.choices)
    total = sum(w) or 1.0
    return {c: x / total for c, x in zip(p.choices, w)}


def _choice_key(value: Any) -> tuple[str, str]:
    # True == 1 in Python: key choices by type and text so that they never collide.
    return (type(value).__name__, str(value))


def _categorical_figure(stage: StageReport, name: str):
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    data, old = stage.data, stage.space.params[name]
    new_space = stage.refinement.space if stage.refinement is not None else None
    new = new_space.params.get(name) if new_space is not None else None
    col = data.columns.get(name)
    ok = stage.complete
    elites = stage.elites & ok
    codes = {}
    if col is not None and name in data.inferred.params:
        for i, c in enumerate(data.choices(name)):
            codes[_choice_key(c)] = i
    labels, trials, shares = [], [], []
    n_elite = int(elites.sum())
    for c in old.choices:
        code = codes.get(_choice_key(c))
        hit = (col == code) if code is not None else np.zeros(data.n_trials, dtype=bool)
        labels.append(str(c))
        trials.append(int((hit & ok).sum()))
        shares.append(float((hit & elites).sum()) / n_elite if n_elite else 0.0)
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(
        go.Bar(x=labels, y=trials, name="trials", marker_color="rgba(90, 100, 120, 0.55)", offsetgroup=0),
        secondary_y=False,
    )
    fig.add_trace(go.Bar(x=labels, y=shares, name="elite share", marker_color=_ELITE, offsetgroup=1), secondary_y=True)
    old_w = _weights(old)
    fig.add_trace(
        go.Scatter(
            x=labels,
            y=[old_w.get(c, 0.0) for c in old.choices],
            mode="markers",
            name=f"v{stage.space.version} weight",
            marker={"symbol": "line-ew-open", "size": 26, "color": "#444", "line": {"width": 3}},
        ),
        secondary_y=True,
    )
    title = name
    if new_space is not None:
        if isinstance(new, CategoricalParam):
            new_w = _weights(new)
            kept = {_choice_key(c) for c in new.choices}
            ys = [new_w.get(c, 0.0) if _choice_key(c) in kept else 0.0 for c in old.choices]
            fig.add_trace(
                go.Scatter(
                    x=labels,
                    y=ys,
                    mode="markers",
                    name=f"v{new_space.version} weight",
                    marker={
                        "symbol": "diamond",
                        "size": 13,
                        "color": "#2ca02c",
                        "line": {"width": 1, "color": "black"},
                    },
                ),
                secondary_y=True,
            )
            added = [c for c in new.choices if _choice_key(c) not in {_choice_key(o) for o in old.choices}]
            if added:
                title += f" (v{new_space.version} adds {', '.join(map(str, added))})"
        elif name in new_space.fixed:
            title += f": fixed to {new_space.fixed[name]!r}"
        else:
            title += ": dropped"
    fig.update_layout(
        title={"text": html.escape(title, quote=False), "font": {"size": 14}},
        barmode="group",
        height=320,
        margin={"t": 45, "b": 45, "l": 55, "r": 55},
        legend={"orientation": "h", "y": -0.25, "font": {"size": 10}},
        xaxis={"type": "category", "title": name},
    )
    fig.update_yaxes(title_text="trials", secondary_y=False)
    fig.update_yaxes(title_text="share", range=[0, 1.05], secondary_y=True)
    return fig


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
        meta += f"; best {_metric(stage)} {best[1]:.5g} (trial {int(data.numbers[best[0]])})"
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
                    "colour": _CHANGE_COLOURS.get(change, "#333"),
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
    numeric = [n for n, p in space.params.items() if isinstance(p, (FloatParam, IntParam))]
    categorical = [n for n, p in space.params.items() if isinstance(p, CategoricalParam)]
    view["numeric_plots"] = [page.figure(_numeric_figure(stage, n)) for n in numeric]
    view["categorical_plots"] = [page.figure(_categorical_figure(stage, n)) for n in categorical]
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
    lineage_plot = page.figure(_lineage_figure(stages))
    views = [_stage_view(page, s) for s in stages]
    for row, view in zip(summary, views):
        view.update({k: row[k] for k in ("complete", "best", "parent", "next")})
    return _template().render(
        heading=title or (f"refine report: {stages[0].space.name}" if stages else "refine report"),
        storage=storage,
        stages=views,
        metric=_metric(stages[0]),
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
