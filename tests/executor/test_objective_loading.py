"""Loading an objective (executor.load_objective): module:function, file.py:function, dotted attributes."""

from __future__ import annotations

import pytest

from refine.executor import ObjectiveError, load_objective

SOURCE = """
class Objectives:
    @staticmethod
    def square(params):
        return params["x"] ** 2


def plain(params):
    return params["x"]
"""


def test_a_file_function_and_a_dotted_attribute_load(tmp_path):
    path = tmp_path / "objs.py"
    path.write_text(SOURCE)
    assert load_objective(f"{path}:plain")({"x": 3}) == 3
    assert load_objective(f"{path}:Objectives.square")({"x": 3}) == 9


def test_a_module_function_loads_by_its_dotted_path():
    from tests.objectives import quadratic

    assert load_objective("tests.objectives:quadratic") is quadratic


@pytest.mark.parametrize("attr", ["missing", "Objectives.missing"])
def test_a_missing_attribute_names_the_module_and_the_function(tmp_path, attr):
    path = tmp_path / "objs.py"
    path.write_text(SOURCE)
    with pytest.raises(ObjectiveError, match=f"has no function '{attr}'"):
        load_objective(f"{path}:{attr}")


def test_a_file_python_cannot_load_is_named_with_the_fix(tmp_path):
    path = tmp_path / "objs.txt"
    path.write_text(SOURCE)
    with pytest.raises(ObjectiveError, match=r"objs\.txt is not a Python module .* name a \.py file"):
        load_objective(f"{path}:plain")
