"""The names an export gives files: readable, distinct, and never outside the export."""

from moalab.export import export_lab
from moalab.export.files import path_part


def test_a_name_stays_readable_and_only_what_no_file_system_takes_is_encoded():
    assert path_part("Jane Doe") == "Jane Doe"
    assert path_part("rat-1_ä") == "rat-1_ä"
    assert path_part("a/b") == "a%2Fb"
    assert path_part("a\\b:c") == "a%5Cb%3Ac"
    assert path_part("..") == "%2E%2E" and path_part(".") == "%2E"
    assert path_part("tab\there") == "tab%09here"


def test_distinct_names_give_distinct_parts():
    names = ["a/b", "a%2Fb", "a%b", "a%25b", "..", "%2E%2E", ".", "a b"]
    assert len({path_part(name) for name in names}) == len(names)


def test_an_export_of_a_subject_named_like_a_path_stays_inside_it(made, tmp_path):
    made.lab.database.add_subject("../outside")
    session = made.lab.database.create_session("../outside", "mock", 1, {})
    made.deposit(session.id, "take", b"take", ".wav")
    export_lab(made.lab, tmp_path / "export")
    assert (tmp_path / "export" / "..%2Foutside" / session.id / "take.wav").read_bytes() \
        == b"take"
    assert not (tmp_path / "outside").exists()
