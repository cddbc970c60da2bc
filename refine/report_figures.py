"""The report's plotly figures: the lineage, and per parameter its trials, elites and ranges (or weights).

Each function returns a ``plotly.graph_objects.Figure`` for one part of the
page :mod:`refine.report` builds; plotly is imported when a figure is drawn.
"""

from __future__ import annotations

import html
import math
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from refine.space import CategoricalParam, FloatParam, IntParam

if TYPE_CHECKING:
    from refine.report import StageReport

__all__ = ["lineage_figure", "numeric_figure", "categorical_figure", "metric_label", "CHANGE_COLOURS"]

_ELITE = "#d62728"
_TRIAL = "rgba(90, 100, 120, 0.45)"
_OLD = "rgba(120, 120, 120, 0.14)"
_NEW = "rgba(44, 160, 44, 0.20)"
CHANGE_COLOURS = {
    "kept": "#666",
    "narrowed": "#1f77b4",
    "expanded": "#2ca02c",
    "shifted": "#2ca02c",
    "fixed": "#9467bd",
    "biased": "#ff7f0e",
    "dropped": "#d62728",
    "added": "#17becf",
}


def _fmt(x: Any) -> str:
    if isinstance(x, float):
        return f"{x:.4g}"
    return str(x)


def metric_label(stage: StageReport) -> str:
    """The stage's objective as the axes and the page name it."""
    return stage.space.metric_label or "objective"


def lineage_figure(stages: Sequence[StageReport]):
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
    bests = [(i, b[1]) for i, b in enumerate(s.best() for s in stages) if b is not None]
    fig.add_trace(
        go.Scatter(
            x=[i for i, _ in bests],
            y=[value for _, value in bests],
            mode="lines+markers+text",
            text=[f"{value:.4g}" for _, value in bests],
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
        yaxis={"title": metric_label(stages[0])},
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


def numeric_figure(stage: StageReport, name: str, old: FloatParam | IntParam):
    import plotly.graph_objects as go

    data = stage.data
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
        yaxis={"title": metric_label(stage)},
        height=320,
        margin={"t": 45, "b": 45, "l": 55, "r": 15},
        legend={"orientation": "h", "y": -0.25, "font": {"size": 10}},
    )
    return fig


def _weights(p: CategoricalParam) -> dict[Any, float]:
    return dict(zip(p.choices, p.normalized_weights()))


def _choice_key(value: Any) -> tuple[str, str]:
    # True == 1 in Python: key choices by type and text so that they never collide.
    return (type(value).__name__, str(value))


def categorical_figure(stage: StageReport, name: str, old: CategoricalParam):
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    data = stage.data
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
