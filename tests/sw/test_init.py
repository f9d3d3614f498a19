"""The old flat module names of ``sw`` (``sw.driver`` ...) still import as the moved
modules themselves, with a warning that names the new home."""

import importlib
import subprocess
import sys
import warnings

import pytest

import sw


@pytest.mark.parametrize("old", sorted(sw.MOVED))
def test_old_name_is_the_moved_module(old):
    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match=sw.MOVED[old].replace(".", r"\.")):
        mod = importlib.import_module(old)
    assert mod is importlib.import_module(sw.MOVED[old])


def test_new_names_import_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for new in sw.MOVED.values():
            importlib.import_module(new)


def test_python_dash_m_old_name_runs_the_new_module():
    out = subprocess.run([sys.executable, "-m", "sw.demo", "--help"], capture_output=True,
                         text=True, check=True)
    assert "python -m sw.apps.demo" in out.stdout
