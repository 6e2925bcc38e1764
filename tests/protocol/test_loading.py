"""Protocol classes found from a file or a module, with :ClassName when there are
several; what went wrong named with the spec."""

import pickle
import sys
import textwrap

import pytest

from moalab import InvalidArgument
from moalab.protocol import load_protocol, load_protocols, parse_args
from tests.protocol.bases import Base, Imported

HEADER = "from tests.protocol.bases import AbstractBase, Base, Imported\n"


def write(path, body):
    path.write_text(HEADER + textwrap.dedent(body))
    return path


@pytest.fixture
def one(tmp_path):
    return write(tmp_path / "sugar_pellet.py", """
        from dataclasses import dataclass

        @dataclass
        class Args:
            n_trials: int = 20

        class SugarPellet(Base):
            Args = Args
        """)


def test_a_file_with_one_protocol(one):
    cls = load_protocol(str(one), Base)
    assert cls.__name__ == "SugarPellet" and issubclass(cls, Base)
    assert load_protocols(str(one), Base) == [cls]


def test_two_loads_give_the_same_classes_which_pickle(one, tmp_path, monkeypatch):
    cls = load_protocol(str(one), Base)
    monkeypatch.chdir(tmp_path)
    assert load_protocol("./sugar_pellet.py", Base) is cls  # the same resolved path
    assert cls.__module__.startswith("_moalab_protocol_sugar_pellet_")
    assert pickle.loads(pickle.dumps(cls)) is cls
    args = pickle.loads(pickle.dumps(cls.Args(n_trials=3)))
    assert type(args) is cls.Args and args.n_trials == 3


def test_two_files_of_one_name_are_two_modules(tmp_path, one):
    (tmp_path / "other").mkdir()
    other = write(tmp_path / "other" / "sugar_pellet.py", "class SugarPellet(Base): pass\n")
    assert load_protocol(str(other), Base) is not load_protocol(str(one), Base)


def test_the_files_folder_is_on_sys_path_only_while_it_runs(tmp_path):
    (tmp_path / "helpers_for_protocol.py").write_text("N_TRIALS = 7\n")
    path = write(tmp_path / "uses_helper.py", """
        from helpers_for_protocol import N_TRIALS

        class WithHelper(Base):
            n_trials = N_TRIALS
        """)
    before = list(sys.path)
    try:
        assert load_protocol(str(path), Base).n_trials == 7
        assert sys.path == before
    finally:
        sys.modules.pop("helpers_for_protocol", None)


def test_several_protocols_need_a_name(tmp_path):
    path = write(tmp_path / "two.py", """
        class Training(AbstractBase):
            def build_tree(self): ...

        class Main(AbstractBase):
            def build_tree(self): ...
        """)
    found = load_protocols(str(path), Base)
    assert [cls.__name__ for cls in found] == ["Training", "Main"]
    with pytest.raises(InvalidArgument, match=r"defines 2 protocols \(Training, Main\); name "
                                               rf"one, such as {path}:Training"):
        load_protocol(str(path), Base)
    assert load_protocol(f"{path}:Main", Base) is found[1]


def test_imported_and_abstract_classes_are_not_the_files_protocols(tmp_path):
    path = write(tmp_path / "mixed.py", """
        class Step(AbstractBase):
            pass  # abstract still: a base for the file's protocols

        class Real(Step):
            def build_tree(self): ...
        """)
    assert [cls.__name__ for cls in load_protocols(str(path), Base)] == ["Real"]
    assert load_protocol(f"{path}:Imported", Base) is Imported  # named, it is taken


def test_a_file_defining_none_names_what_it_defines(tmp_path):
    path = write(tmp_path / "none.py", "class Helper: pass\n")
    with pytest.raises(InvalidArgument, match=rf"protocol '{path}': {path} defines no subclass "
                                               r"of Base \(it defines Helper\)"):
        load_protocols(str(path), Base)


def test_a_missing_class_lists_the_protocols(one):
    with pytest.raises(InvalidArgument, match="has no 'Sugar'; it defines SugarPellet"):
        load_protocol(f"{one}:Sugar", Base)
    with pytest.raises(InvalidArgument, match="Args is .*, not a subclass of Base; name one of "
                                               "SugarPellet"):
        load_protocol(f"{one}:Args", Base)


def test_a_missing_file_or_a_folder(tmp_path):
    with pytest.raises(InvalidArgument, match=rf"{tmp_path}/nope.py is no such file; give a "
                                               r"Python file"):
        load_protocols(str(tmp_path / "nope.py"), Base)
    with pytest.raises(InvalidArgument, match="is a folder"):
        load_protocols(f"{tmp_path}/", Base)


def test_a_syntax_error_names_the_line(tmp_path):
    path = write(tmp_path / "broken.py", "class Broken(Base)\n    pass\n")
    with pytest.raises(InvalidArgument, match=rf"protocol '{path}': importing it raised a "
                                               rf"syntax error at {path}, line 2"):
        load_protocols(str(path), Base)


def test_an_error_while_importing_is_named_and_a_fixed_file_loads(tmp_path):
    path = write(tmp_path / "raises.py", "class Late(Base):\n    n = UNDEFINED\n")
    with pytest.raises(InvalidArgument, match="importing it raised NameError: name "
                                               "'UNDEFINED' is not defined"):
        load_protocols(str(path), Base)
    write(path, "class Late(Base):\n    n = 1\n")
    assert load_protocol(str(path), Base).n == 1


@pytest.fixture
def package(tmp_path, monkeypatch):
    root = tmp_path / "labpkg_for_tests"
    root.mkdir()
    (root / "__init__.py").write_text("")
    write(root / "protocols.py", """
        class Lever(Base):
            pass

        class Nose(Base):
            pass
        """)
    (root / "needs_missing.py").write_text("import not_installed_anywhere_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "labpkg_for_tests"
    for name in [name for name in sys.modules if name.startswith("labpkg_for_tests")]:
        del sys.modules[name]


def test_a_module_and_module_name(package):
    found = load_protocols(f"{package}.protocols", Base)
    assert [cls.__name__ for cls in found] == ["Lever", "Nose"]
    assert load_protocol(f"{package}.protocols:Nose", Base) is found[1]


def test_a_missing_module_and_a_missing_dependency(package):
    with pytest.raises(InvalidArgument, match=f"no module named '{package}.nope'"):
        load_protocols(f"{package}.nope", Base)
    with pytest.raises(InvalidArgument, match="no module named 'not_a_package_xyz'"):
        load_protocols("not_a_package_xyz.protocols", Base)
    with pytest.raises(InvalidArgument, match="importing it raised ModuleNotFoundError: No "
                                               "module named 'not_installed_anywhere_xyz'"):
        load_protocols(f"{package}.needs_missing", Base)


@pytest.mark.parametrize("spec", ["my protocol", "1abc", "a..b"])
def test_a_spec_that_is_neither_file_nor_module(spec):
    with pytest.raises(InvalidArgument, match=rf"'{spec}' is neither a Python file"):
        load_protocols(spec, Base)


def test_a_files_string_annotations_resolve(tmp_path):
    # dataclasses and parse_args look the file's module up by name in sys.modules
    path = tmp_path / "future.py"
    path.write_text("from __future__ import annotations\n" + HEADER + textwrap.dedent("""
        from dataclasses import dataclass

        @dataclass
        class Args:
            n_trials: int = 20

        class Later(Base):
            Args = Args
        """))
    assert parse_args(load_protocol(str(path), Base).Args, ["n_trials=4"]).n_trials == 4
