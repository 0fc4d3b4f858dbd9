"""The deploy file named among the loaded modules, so that placing an operation needs no scan."""

import inspect
import sys

from holdfast.planning import register_deploy_file


def _frame_of_executed_file(path):
    """A frame of ``path`` executed the way pyinfra executes a deploy file."""
    path.write_text("import sys\nframe = sys._getframe()\n")
    namespace = {"__file__": str(path)}
    exec(compile(path.read_text(), str(path), "exec"), namespace)
    return namespace["frame"]


def test_an_executed_file_is_in_no_module_until_registered(tmp_path):
    frame = _frame_of_executed_file(tmp_path / "deploy.py")
    assert inspect.getmodule(frame) is None  # inspect scanned every loaded module for it

    register_deploy_file(str(tmp_path / "deploy.py"))
    module = inspect.getmodule(frame)
    assert module is not None and module.__file__ == str(tmp_path / "deploy.py")
    assert inspect.getframeinfo(frame).lineno == 2  # pyinfra reads the same line as before


def test_registering_twice_keeps_one_entry(tmp_path):
    before = len(sys.modules)
    register_deploy_file(str(tmp_path / "deploy.py"))
    register_deploy_file(str(tmp_path / "deploy.py"))
    assert len(sys.modules) == before + 1
