"""Turn a table of past trials (CSV, JSON, a W&B or Ray Tune export) into an Optuna study refine can read.

Many sweeps live outside Optuna. :func:`import_trials` reads their table,
one row per trial, and writes a study that remembers its space (SPEC
section 3), so that ``refine next-space`` reads it and ``refine run --from``
warm-starts from it:

- one column is the objective (``value``); a row without a number there is
  refused, unless its state column says the run failed (then it is a FAIL
  trial);
- with a space file, its parameters are the columns of those names, each
  value checked against the space; without one, the parameters are the
  ``config.*`` / ``config/*`` columns of a W&B or Ray Tune export, or else
  every other column, and their distributions are inferred (numbers: the
  range seen, log-scaled over two decades or more; anything else: the
  choices seen);
- the other columns become user attributes (``--metric precision`` ranks by them).

A row that cannot be placed is refused with its row and column, and nothing
is written.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any, Mapping, Sequence

from attrs import frozen

from refine.errors import RefineError, StudyError
from refine.space import CategoricalParam, FloatParam, IntParam, Param, Space

__all__ = ["ImportedTrials", "import_trials", "read_table"]

_CONFIG_PREFIXES = ("config.", "config/")
_STATE_COLUMNS = ("state", "State", "status", "Status")
_FAILED = {"failed", "crashed", "killed", "error", "errored", "terminated", "fail"}
_SKIP = {"name", "Name", "id", "ID", "run_id", "trial_id", "Runtime", "Created", "Sweep", "User", "Tags", "Notes"}


@frozen
class ImportedTrials:
    """What :func:`import_trials` wrote."""

    study: str
    storage: str
    complete: int
    failed: int
    params: tuple[str, ...]
    attrs: tuple[str, ...]
    space_source: str

    def to_json(self) -> dict:
        return {
            "study": self.study,
            "storage": self.storage,
            "complete": self.complete,
            "failed": self.failed,
            "params": list(self.params),
            "attrs": list(self.attrs),
            "space_source": self.space_source,
        }


def _cell(text: Any) -> Any:
    """A CSV cell as a value: empty is missing (None), then int, float, bool, else the text."""
    if not isinstance(text, str):
        return text
    s = text.strip()
    if s == "":
        return None
    low = s.lower()
    if low in ("true", "false"):
        return low == "true"
    try:
        return int(s)
    except ValueError:
        pass
    try:
        return float(s)
    except ValueError:
        return s


def _flatten(row: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and key in ("config", "summary", "metrics", "params"):
            out.update(_flatten(value, f"{'config.' if key in ('config', 'params') else ''}"))
        else:
            out[name] = value
    return out


def read_table(path: str | Path) -> list[dict[str, Any]]:
    """The rows of a CSV file or a JSON file (a list of objects, or ``{"runs": [...]}``); nested
    ``config`` / ``params`` become ``config.*`` columns, nested ``summary`` / ``metrics`` plain columns.

    Raises:
        RefineError: Missing file, unknown extension, or a table of no rows.
    """
    p = Path(path)
    if not p.is_file():
        raise RefineError(f"import-trials: no file {p}")
    text = p.read_text(encoding="utf-8-sig")
    if p.suffix.lower() == ".csv":
        rows = [{k: _cell(v) for k, v in r.items() if k is not None} for r in csv.DictReader(io.StringIO(text))]
    elif p.suffix.lower() in (".json", ".jsonl"):
        try:
            doc = (
                [json.loads(line) for line in text.splitlines() if line.strip()]
                if p.suffix.lower() == ".jsonl"
                else json.loads(text)
            )
        except ValueError as e:
            raise RefineError(f"import-trials: {p} is not valid JSON ({e})") from None
        if isinstance(doc, Mapping):
            doc = next((doc[k] for k in ("runs", "trials", "rows", "data") if isinstance(doc.get(k), list)), None)
        if not isinstance(doc, list) or not all(isinstance(r, Mapping) for r in doc):
            raise RefineError(f'import-trials: {p} must hold a list of objects (one per trial), or {{"runs": [...]}}')
        rows = [_flatten(r) for r in doc]
    else:
        raise RefineError(
            f"import-trials: {p} must be a .csv, .json or .jsonl file (a W&B or Ray Tune export is one of them)"
        )
    if not rows:
        raise RefineError(f"import-trials: {p} holds no rows")
    return rows


def _strip(name: str) -> str:
    for prefix in _CONFIG_PREFIXES:
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _infer(name: str, values: Sequence[Any]) -> Param | Any:
    """A parameter from the values seen (a single value: that constant, to be fixed)."""
    seen = [v for v in values if v is not None]
    distinct = list(dict.fromkeys(seen))
    if len(distinct) == 1:
        return distinct[0]
    if all(_is_number(v) for v in seen):
        if all(float(v).is_integer() and not isinstance(v, float) for v in seen):
            return IntParam(low=int(min(seen)), high=int(max(seen)))
        lo, hi = float(min(seen)), float(max(seen))
        return FloatParam(low=lo, high=hi, log=lo > 0 and hi / lo >= 100)
    return CategoricalParam(choices=tuple(distinct))


def import_trials(
    path: str | Path,
    *,
    storage: str,
    study: str,
    value: str,
    direction: str = "minimize",
    space: Space | str | Path | None = None,
    attrs_columns: Sequence[str] = (),
) -> ImportedTrials:
    """Write the rows of ``path`` as the trials of a new study ``study`` in ``storage``.

    Args:
        path: A CSV or JSON table, one row per trial.
        storage: Where the study goes (created if needed).
        study: The new study's name; it must not hold trials yet.
        value: The column holding the objective.
        direction: ``minimize`` or ``maximize``.
        space: The space the trials were drawn from (a :class:`Space` or a space file);
            without it the parameters' distributions are inferred.
        attrs_columns: Columns kept as user attributes, never as parameters.

    Raises:
        RefineError: A row that cannot be placed (naming row and column), or bad arguments.
        StudyError: The study already holds trials.
    """
    import optuna

    from refine.executor.attributes import ATTR_SPACE, ATTR_VERSION
    from refine.spacefile import space_to_json
    from refine.storage import open_storage, redact

    if direction not in ("minimize", "maximize"):
        raise RefineError(f"--direction must be minimize or maximize, got {direction!r}")
    rows = read_table(path)
    where = Path(path).name
    columns = list(dict.fromkeys(k for r in rows for k in r))
    if value not in columns:
        raise RefineError(
            f"import-trials: {where} has no column '{value}' (--value); its columns: {', '.join(columns[:20])}"
        )
    state_col = next((c for c in _STATE_COLUMNS if c in columns), None)
    if isinstance(space, (str, Path)):
        from refine.spacefile import load_space

        space = load_space(space)
    if space is not None and space.directions != (direction,):
        raise RefineError(
            f"--direction {direction} but the space {space.name} v{space.version} says {', '.join(space.directions)}"
        )
    rest = [c for c in columns if c not in (value, state_col) and c not in _SKIP]
    if space is not None:
        by_name = {_strip(c): c for c in rest}
        missing = [n for n, p in space.params.items() if n not in by_name and p.when is None]
        if missing:
            raise RefineError(f"import-trials: {where} has no column for the space's parameter(s) {', '.join(missing)}")
        param_cols = {n: by_name[n] for n in space.params if n in by_name}
    else:
        prefixed = [c for c in rest if c.startswith(_CONFIG_PREFIXES)]
        chosen = prefixed or [c for c in rest if c not in attrs_columns]
        param_cols = {_strip(c): c for c in chosen if c not in attrs_columns}
    attr_cols = [c for c in rest if c not in param_cols.values()]

    failed_rows: set[int] = set()
    for i, r in enumerate(rows, 1):
        v = r.get(value)
        if _is_number(v):
            continue
        state = str(r.get(state_col, "")).strip().lower() if state_col else ""
        if state in _FAILED and v is None:
            failed_rows.add(i)
            continue
        shown = "empty" if v is None else repr(v)
        raise RefineError(
            f"import-trials: {where} row {i}, column '{value}': {shown} is not a finite number"
            + (f" (and its '{state_col}' is not a failed state)" if state_col else "")
            + "; remove the row or fill in its value"
        )
    if space is None:
        fixed: dict[str, Any] = {}
        params: dict[str, Param] = {}
        for name, col in param_cols.items():
            inferred = _infer(name, [r.get(col) for r in rows])
            if isinstance(inferred, (FloatParam, IntParam, CategoricalParam)):
                params[name] = inferred
            else:
                fixed[name] = inferred
        from refine.interop import sanitize_name

        space = Space(name=sanitize_name(study), version=1, directions=(direction,), fixed=fixed, params=params)
        source = "inferred"
    else:
        source = "given"
    trials = []
    for i, r in enumerate(rows, 1):
        config: dict[str, Any] = {}
        for name in space.params:
            if name in param_cols and r.get(param_cols[name]) is not None:
                config[name] = r[param_cols[name]]
        for name, fixed_value in space.fixed.items():
            column = param_cols.get(name) or next((c for c in attr_cols if _strip(c) == name), None)
            if column and r.get(column) is not None and r[column] != fixed_value:
                raise RefineError(
                    f"import-trials: {where} row {i}, column '{column}': {r[column]!r}, but the space fixes "
                    f"{name}={fixed_value!r}; "
                    "a trial at another setting is not this space's"
                )
        params = {}
        for name, p in space.params.items():
            active = space.is_active(name, config)
            if name not in config:
                if active and i not in failed_rows:
                    raise RefineError(
                        f"import-trials: {where} row {i}, column '{param_cols.get(name, name)}': empty, but "
                        f"'{name}' is active "
                        "in this row; fill it in or remove the row"
                    )
                continue
            v = config[name]
            if not active:
                continue
            if not p.contains(v):
                raise RefineError(
                    f"import-trials: {where} row {i}, column '{param_cols[name]}': {v!r} is not a value of '{name}' "
                    f"({_describe(p)}); fix the row or widen the space (--space)"
                )
            params[name] = p.choices[p.index(v)] if isinstance(p, CategoricalParam) else v
        user_attrs = {c: r[c] for c in attr_cols if r.get(c) is not None and isinstance(r[c], (int, float, str, bool))}
        user_attrs["refine:imported_from"] = f"{where}#row{i}"
        trials.append(
            optuna.trial.create_trial(
                params=params,
                distributions={n: space.params[n].to_distribution() for n in params},
                value=None if i in failed_rows else float(r[value]),
                user_attrs=user_attrs,
                state=optuna.trial.TrialState.FAIL if i in failed_rows else optuna.trial.TrialState.COMPLETE,
            )
        )
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    store = open_storage(storage, create=True)
    target = optuna.create_study(
        storage=store, study_name=study, direction=optuna.study.StudyDirection[direction.upper()], load_if_exists=True
    )
    if target.trials or target.user_attrs.get(ATTR_SPACE):
        raise StudyError(f"study '{study}' already exists in {redact(storage)}: import into a new --study name")
    target.set_user_attr(ATTR_SPACE, space_to_json(space))
    target.set_user_attr(ATTR_VERSION, space.version)
    target.set_user_attr("refine:imported_from", where)
    target.add_trials(trials)
    return ImportedTrials(
        study,
        redact(storage),
        len(rows) - len(failed_rows),
        len(failed_rows),
        tuple(space.params),
        tuple(attr_cols),
        source,
    )


def _describe(p: Param) -> str:
    if isinstance(p, CategoricalParam):
        return "choices " + ", ".join(repr(c) for c in p.choices)
    grid = f", step {p.step}" if getattr(p, "step", None) not in (None, 1) else ""
    return f"[{p.low}, {p.high}]{grid}" + (" log" if p.log else "")
