"""The lab folder: made by Lab.init, found by --lab / MOALAB_LAB / the current folder,
and its config file, whose mistakes are named."""

import pytest

from moalab import InvalidArgument
from moalab.store import CONFIG_NAME, DatabaseUnavailable, Lab, LabConfig, SchemaTooOld


def test_init_makes_a_lab_with_its_database(tmp_path):
    lab = Lab.init(tmp_path / "lab", name="Smith lab")
    try:
        assert lab.name == "Smith lab" and lab.folder == (tmp_path / "lab").resolve()
        assert lab.data_folder == lab.folder / "data" and lab.data_folder.is_dir()
        assert (lab.folder / "lab.sqlite").is_file()
        assert lab.config.database_url == f"sqlite:///{lab.folder / 'lab.sqlite'}"
        lab.database.add_subject("m1")
        folder = lab.session_folder("0123456789ab")
        assert folder == lab.data_folder / "0123456789ab" and not folder.exists()  # a read
        assert lab.make_session_folder("0123456789ab") == folder and folder.is_dir()
    finally:
        lab.close()
    with pytest.raises(InvalidArgument, match=f"{tmp_path / 'lab'} already is a lab"):
        Lab.init(tmp_path / "lab")


def test_init_with_a_shared_postgresql(tmp_path, postgres_url):
    first = Lab.init(tmp_path / "pc-1", database_url=postgres_url)
    first.database.add_subject("m1")
    # a second controller PC joins the registry the first one made
    second = Lab.init(tmp_path / "pc-2", database_url=postgres_url)
    try:
        assert [s.name for s in second.database.list_subjects()] == ["m1"]
        assert not (second.folder / "lab.sqlite").exists()
    finally:
        first.close()
        second.close()


def test_init_leaves_no_lab_when_the_database_fails(tmp_path):
    url = "postgresql+psycopg://lab@127.0.0.1:1/lab"
    with pytest.raises(DatabaseUnavailable):
        Lab.init(tmp_path / "lab", database_url=url)
    assert not (tmp_path / "lab" / CONFIG_NAME).exists()


def test_find_takes_the_option_then_the_environment_then_the_current_folder(
        tmp_path, monkeypatch):
    for name in ("a", "b", "c"):
        Lab.init(tmp_path / name).close()
    monkeypatch.chdir(tmp_path / "c")
    monkeypatch.setenv("MOALAB_LAB", str(tmp_path / "b"))
    assert Lab.find(tmp_path / "a").name == "a"
    assert Lab.find().name == "b"
    monkeypatch.delenv("MOALAB_LAB")
    assert Lab.find().name == "c"
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InvalidArgument, match=rf"{tmp_path} \(the current folder\) is not "
                                              rf"a lab: .*`moalab lab init {tmp_path}`.*"
                                              rf"--lab DIR"):
        Lab.find()


def test_a_lab_whose_database_has_no_schema_says_upgrade(tmp_path):
    Lab.init(tmp_path / "lab").close()
    (tmp_path / "lab" / "lab.sqlite").unlink()
    lab = Lab.find(tmp_path / "lab")
    with pytest.raises(SchemaTooOld, match="run `moalab lab upgrade`"):
        lab.database
    lab.upgrade()
    assert lab.database.list_subjects() == []
    lab.close()


def write_config(folder, text):
    folder.mkdir(exist_ok=True)
    (folder / CONFIG_NAME).write_text(text)
    return folder


def test_the_config_keys(tmp_path):
    folder = write_config(tmp_path / "lab", """
[lab]
name = "Smith lab"
[database]
url = "sqlite:///db/lab.sqlite"
[data]
folder = "/srv/moalab-data"
""")
    config = LabConfig.read(folder)
    assert config.name == "Smith lab"
    # a relative SQLite path is in the lab folder, wherever moalab runs from
    assert config.database_url == f"sqlite:///{folder.resolve() / 'db' / 'lab.sqlite'}"
    assert str(config.data_folder) == "/srv/moalab-data"
    assert LabConfig.read(write_config(tmp_path / "empty", "")).name == "empty"


@pytest.mark.parametrize("text, match", [
    ("[lab]\nname = 'x'\ncolour = 'red'\n", r"unknown key 'colour' in \[lab\]; the keys "
                                            r"there are name"),
    ("[labb]\nname = 'x'\n", r"unknown section \[labb\]; the sections are \[lab\], "
                             r"\[database\], \[data\]"),
    ("[lab]\nname = 3\n", r"\[lab\] name = 3 must be a str"),
    ("lab = 'x'\n", r"lab must be a section \(\[lab\]\)"),
    ("[lab]\nname = \"unterminated\n", r"is not valid TOML: .*line 2"),
    ("[database]\nurl = 'not a url'\n", r"\[database\] url = 'not a url' is not a "
                                        r"database URL"),
    ("[database]\nurl = 'mysql://h/lab'\n", r"keeps a lab in SQLite or PostgreSQL"),
])
def test_a_bad_config_is_named(tmp_path, text, match):
    folder = write_config(tmp_path / "lab", text)
    with pytest.raises(InvalidArgument, match=match) as error:
        Lab.find(folder)
    assert str(folder / CONFIG_NAME) in str(error.value)


def test_a_config_that_is_not_text(tmp_path):
    folder = tmp_path / "lab"
    folder.mkdir()
    (folder / CONFIG_NAME).write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(InvalidArgument, match="is not UTF-8 text"):
        LabConfig.read(folder)
