"""A static protocol's conditions table: CSV typed by a schema (bad cells named by
row and column), JSON, lists and generators; blocks of units in order."""

import json
import pathlib

import pytest

from moalab import InvalidArgument
from moalab.protocol import load_conditions, next_units, units_left

SCHEMA = {"delay": float, "reward": bool, "side": str, "n": int | None}


@pytest.fixture
def csv_path(tmp_path):
    path = tmp_path / "conditions.csv"
    path.write_text("delay,reward,side,n\n1.5,yes,left,3\n2,no,right,none\n0.5,1,left,\n")
    return path


def test_csv_cells_are_typed_by_the_schema(csv_path):
    assert load_conditions(csv_path, SCHEMA) == [
        {"delay": 1.5, "reward": True, "side": "left", "n": 3},
        {"delay": 2.0, "reward": False, "side": "right", "n": None},
        {"delay": 0.5, "reward": True, "side": "left", "n": None},
    ]


def test_csv_without_schema_keeps_text(csv_path):
    assert load_conditions(str(csv_path))[0] == {"delay": "1.5", "reward": "yes",
                                                 "side": "left", "n": "3"}


def test_a_spreadsheets_csv_bom_blank_line_and_spaced_header(tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes("\ufeffdelay, reward ,side,n\r\n1,yes,left,1\r\n\r\n2,no,right,2\r\n"
                     .encode())
    rows = load_conditions(path, SCHEMA)
    assert [row["delay"] for row in rows] == [1.0, 2.0]


def test_a_bad_cell_names_its_spreadsheet_row_and_column(tmp_path):
    path = tmp_path / "bad.csv"
    # row 1 the header, row 3 blank (a spreadsheet shows it), row 5 the bad cell
    path.write_text("delay,reward,side,n\n1,yes,a,1\n\n2,no,b,2\nsoon,yes,c,3\n")
    with pytest.raises(InvalidArgument) as info:
        load_conditions(path, SCHEMA)
    message = str(info.value)
    assert f"conditions '{path}' row 5, column 'delay': 'soon' is not a valid float" in message


def test_a_bad_bool_cell(csv_path):
    csv_path.write_text("delay,reward,side,n\n1,perhaps,a,1\n")
    with pytest.raises(InvalidArgument, match="row 2, column 'reward': 'perhaps' is not a "
                                               r"valid bool; give true or false"):
        load_conditions(csv_path, SCHEMA)


def test_a_schema_column_missing_from_the_csv_and_an_extra_one(csv_path):
    csv_path.write_text("delay,reward,sides,n\n1,yes,a,1\n")
    with pytest.raises(InvalidArgument) as info:
        load_conditions(csv_path, SCHEMA)
    message = str(info.value)
    assert "header (row 1): no column 'side'" in message
    assert "column 'sides' is not in the schema (did you mean 'side'?)" in message


def test_a_csv_column_not_in_the_schema(csv_path):
    with pytest.raises(InvalidArgument, match="column 'n' is not in the schema"):
        load_conditions(csv_path, {"delay": float, "reward": bool, "side": str})


def test_a_row_with_too_many_or_too_few_cells(csv_path):
    csv_path.write_text("delay,reward,side,n\n1,yes,a,1\n2,no,b\n")
    with pytest.raises(InvalidArgument, match="row 3: 3 cells, but the header has 4 columns"):
        load_conditions(csv_path, SCHEMA)


def test_a_repeated_header_column(csv_path):
    csv_path.write_text("delay,delay\n1,2\n")
    with pytest.raises(InvalidArgument, match="column 'delay' appears twice in the header"):
        load_conditions(csv_path)


@pytest.mark.parametrize("text", ["", "delay,reward,side,n\n", "delay,reward,side,n\n\n\n"])
def test_an_empty_table_is_refused(csv_path, text):
    csv_path.write_text(text)
    with pytest.raises(InvalidArgument, match="empty|no rows"):
        load_conditions(csv_path)


def test_json_rows_are_checked_against_the_schema(tmp_path):
    path = tmp_path / "conditions.json"
    rows = [{"delay": 1, "reward": True, "side": "l", "n": None},
            {"delay": 2.5, "reward": False, "side": "r", "n": 4}]
    path.write_text(json.dumps(rows))
    assert load_conditions(path, SCHEMA)[0] == {"delay": 1.0, "reward": True, "side": "l",
                                                "n": None}
    path.write_text(json.dumps([rows[0], {**rows[1], "reward": "no"}]))
    with pytest.raises(InvalidArgument, match=r"row 2, column 'reward': 'no' \(str\) does "
                                               "not fit bool"):
        load_conditions(path, SCHEMA)
    path.write_text(json.dumps([{"delay": 1, "reward": True, "side": "l"}]))
    with pytest.raises(InvalidArgument, match="row 1: no column 'n'"):
        load_conditions(path, SCHEMA)


def test_json_that_is_not_a_list_or_not_json(tmp_path):
    path = tmp_path / "conditions.json"
    path.write_text('{"delay": 1}')
    with pytest.raises(InvalidArgument, match="holds a JSON dict; give a list of objects"):
        load_conditions(path)
    path.write_text('[{"delay": 1},\n {"delay": }]')
    with pytest.raises(InvalidArgument, match="not valid JSON at line 2, column"):
        load_conditions(path)
    path.write_text("[]")
    with pytest.raises(InvalidArgument, match="the table has no rows"):
        load_conditions(path)


def test_a_list_and_a_generator_of_dicts():
    rows = [{"delay": 1.0, "side": "l"}, {"delay": 2.0, "side": "r"}]
    loaded = load_conditions(rows, {"delay": float, "side": str})
    assert loaded == rows and loaded[0] is not rows[0]  # copies
    assert load_conditions(dict(row) for row in rows) == rows
    with pytest.raises(InvalidArgument, match="conditions generator: the table has no rows"):
        load_conditions(row for row in [])


def test_list_rows_are_checked(tmp_path):
    with pytest.raises(InvalidArgument, match=r"conditions list row 2: 3 \(int\) is not a row"):
        load_conditions([{"delay": 1.0}, 3])
    with pytest.raises(InvalidArgument, match="list row 2: no column 'delay'; column 'dealy' is "
                                               r"not in row 1 \(did you mean 'delay'\?\)"):
        load_conditions([{"delay": 1.0}, {"dealy": 2.0}])
    with pytest.raises(InvalidArgument, match="row 1, column 'out': 5 .*does not fit Path"):
        load_conditions([{"out": 5}], {"out": pathlib.Path})
    assert load_conditions([{"out": "a"}], {"out": pathlib.Path}) == [{"out": pathlib.Path("a")}]


@pytest.mark.parametrize("source, piece", [
    ("conditions.txt", "not a .csv or .json file"),
    ("missing.csv", "no such file"),
    ({"delay": 1}, "is not accepted; give a .csv or .json path, or a list"),
    (5, "is not accepted"),
])
def test_bad_sources(tmp_path, monkeypatch, source, piece):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InvalidArgument, match=piece):
        load_conditions(source)


def test_an_unsupported_schema_type_names_the_column():
    with pytest.raises(InvalidArgument, match=r"schema, column 'pos': type tuple\[int, int\] "
                                               "is not supported"):
        load_conditions([{"pos": (1, 2)}], {"pos": tuple[int, int]})


# ------------------------------------------------------------------- blocks

TABLE = [{"unit": index} for index in range(7)]


def test_units_come_in_blocks_in_order():
    assert next_units(TABLE, 0, 3) == TABLE[0:3]
    assert next_units(TABLE, 3, 3) == TABLE[3:6]
    assert next_units(TABLE, 6, 3) == TABLE[6:7]  # the last, shorter block
    assert next_units(TABLE, 7, 3) == []
    assert [units_left(TABLE, done) for done in (0, 6, 7)] == [7, 1, 0]


@pytest.mark.parametrize("done", [-1, 8, 2.0, "1"])
def test_a_bad_done_count(done):
    with pytest.raises(InvalidArgument, match=rf"done={done!r} is not accepted; .*from 0 to 7"):
        next_units(TABLE, done, 2)
    with pytest.raises(InvalidArgument, match=r"units_left: done="):
        units_left(TABLE, done)


@pytest.mark.parametrize("per_session", [0, -2, 1.5, True])
def test_a_bad_block_size(per_session):
    with pytest.raises(InvalidArgument, match=f"units_per_session={per_session!r} is not "
                                               "accepted; give a whole number >= 1"):
        next_units(TABLE, 0, per_session)
