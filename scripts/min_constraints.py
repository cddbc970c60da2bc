"""Print pip constraints that pin every declared dependency to its declared minimum.

    python scripts/min_constraints.py dev postgres report > /tmp/min.txt
    pip install -c /tmp/min.txt -e ".[dev,postgres,report]"

Each ``name>=X`` of ``[project] dependencies`` and of the named extras becomes
``name==X`` (markers kept), so that ``make test-min`` runs the tests against
exactly the versions pyproject.toml claims to support. A requirement with no
lower bound is an error: a minimum that is not stated cannot be tested.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - 3.10
    import tomli as tomllib

_REQ = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*([^;]*?)\s*(;.*)?$")


def constraints(pyproject: Path, extras: list[str]) -> list[str]:
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    wanted = list(project["dependencies"])
    for extra in extras:
        if extra not in project.get("optional-dependencies", {}):
            raise SystemExit(
                f"error: no extra '{extra}' in {pyproject}; extras: {', '.join(project['optional-dependencies'])}"
            )
        wanted += project["optional-dependencies"][extra]
    out: dict[str, str] = {}
    for req in wanted:
        m = _REQ.match(req)
        if m is None:
            raise SystemExit(f"error: cannot read the requirement {req!r} in {pyproject}")
        name, _, spec, marker = m.groups()
        pin = re.search(r"(?:>=|==)\s*([0-9][^,\s]*)", spec)
        if pin is None:
            raise SystemExit(f"error: {req!r} in {pyproject} states no minimum version; write {name}>=X")
        out[name.lower()] = f"{name}=={pin.group(1)}{(' ' + marker) if marker else ''}"
    return sorted(out.values(), key=str.lower)


if __name__ == "__main__":
    root = Path(__file__).resolve().parent.parent
    print("\n".join(constraints(root / "pyproject.toml", sys.argv[1:])))
