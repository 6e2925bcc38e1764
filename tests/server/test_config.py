"""moalab-server's TOML config: loading, checking, and command-line overrides."""

from pathlib import Path

import pytest

from moalab.core.errors import InvalidArgument, MoaError
from moalab.server.config import ServerConfig, load_config, merge_config


def write(tmp_path: Path, text: str, name: str = "server.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults():
    config = ServerConfig()
    assert (config.host, config.port, config.allow, config.data_dir, config.token) == (
        "127.0.0.1", 5000, (), None, None,
    )


def test_empty_file_gives_defaults(tmp_path):
    assert load_config(write(tmp_path, "")) == ServerConfig()


def test_full_file(tmp_path):
    path = write(
        tmp_path,
        """
        host = "0.0.0.0"
        port = 8123
        allow = ["myrig.devices", "lab.pi_devices", "myrig.devices"]
        data_dir = "/var/lib/moalab"
        token = "s3cret"
        """,
    )
    config = load_config(str(path))
    assert config == ServerConfig(
        host="0.0.0.0",
        port=8123,
        allow=("myrig.devices", "lab.pi_devices"),  # duplicates dropped, order kept
        data_dir=Path("/var/lib/moalab"),
        token="s3cret",
    )


def test_relative_data_dir_is_relative_to_the_file(tmp_path):
    (tmp_path / "etc").mkdir()
    config = load_config(write(tmp_path / "etc", 'data_dir = "../data"'))
    assert config.data_dir == tmp_path.resolve() / "etc" / ".." / "data"
    assert config.data_dir.is_absolute()


@pytest.mark.parametrize(
    "line, key, value, accepted",
    [
        ('port = "5000"', "port", "'5000'", "whole number from 0 to 65535"),
        ("port = 70000", "port", "70000", "whole number from 0 to 65535"),
        ("port = -1", "port", "-1", "whole number from 0 to 65535"),
        ("port = true", "port", "True", "whole number from 0 to 65535"),
        ("port = 5000.0", "port", "5000.0", "whole number from 0 to 65535"),
        ("host = 127", "host", "127", "address or host name"),
        ('host = ""', "host", "''", "address or host name"),
        ('allow = "myrig.devices"', "allow", "'myrig.devices'", "list of module names"),
        ('allow = ["my-rig"]', "allow", "['my-rig']", "'my-rig' is not a module name"),
        ("allow = [1]", "allow", "[1]", "1 is not a module name"),
        ("data_dir = 3", "data_dir", "3", "folder path"),
        ('token = ""', "token", "''", "non-empty string"),
        ("token = 42", "token", "42", "non-empty string"),
        ("namespace_grace = 0", "namespace_grace", "0", "give seconds, more than 0"),
        ("namespace_grace = -5.0", "namespace_grace", "-5.0", "more than 0 (default 60)"),
        ('namespace_grace = "60"', "namespace_grace", "'60'", "give seconds"),
        ("namespace_grace = true", "namespace_grace", "True", "give seconds"),
        ("namespace_grace = inf", "namespace_grace", "inf", "give seconds"),
        ("namespace_grace = nan", "namespace_grace", "nan", "give seconds"),
    ],
)
def test_bad_values_name_file_key_value_and_accepted(tmp_path, line, key, value, accepted):
    path = write(tmp_path, line)
    with pytest.raises(InvalidArgument) as info:
        load_config(path)
    message = str(info.value)
    assert str(path) in message
    assert f"{key} = {value}" in message
    assert accepted in message
    assert isinstance(info.value, MoaError)


def test_unknown_key_names_the_accepted_keys(tmp_path):
    path = write(tmp_path, 'host = "0.0.0.0"\nprot = 5001\n')
    with pytest.raises(InvalidArgument) as info:
        load_config(path)
    message = str(info.value)
    assert str(path) in message and "'prot'" in message and "5001" in message
    assert "host, port, allow, data_dir, token" in message


def test_a_table_is_an_unknown_key(tmp_path):
    with pytest.raises(InvalidArgument, match=r"unknown key 'server'"):
        load_config(write(tmp_path, '[server]\nport = 5001\n'))


def test_invalid_toml_and_missing_file(tmp_path):
    with pytest.raises(InvalidArgument, match=r"server.toml.*not valid TOML"):
        load_config(write(tmp_path, "port = = 1"))
    with pytest.raises(InvalidArgument, match=r"nope.toml.*cannot be read"):
        load_config(tmp_path / "nope.toml")


def test_dataclass_checks_its_values():
    with pytest.raises(InvalidArgument, match="port = 65536"):
        ServerConfig(port=65536)
    assert ServerConfig(allow=["a.b"]).allow == ("a.b",)


def test_flags_override_the_file(tmp_path):
    file_config = load_config(
        write(tmp_path, 'host = "0.0.0.0"\nport = 6000\nallow = ["rig.a"]\ntoken = "t"\n')
    )
    merged = merge_config(
        file_config, host=None, port=7000, allow=["rig.b", "rig.a"], data_dir=None, token=None
    )
    assert merged.host == "0.0.0.0"  # not given on the command line
    assert merged.port == 7000
    assert merged.allow == ("rig.a", "rig.b")  # flags add modules to the file's
    assert merged.token == "t"
    assert merged.data_dir is None
    assert file_config.port == 6000  # the loaded config is not changed
    assert ServerConfig().merged(data_dir="/tmp/x").data_dir == Path("/tmp/x")


def test_bad_flag_values_name_the_command_line():
    with pytest.raises(InvalidArgument, match=r"command line: port = 99999 .*0 to 65535"):
        merge_config(ServerConfig(), port=99999)
    with pytest.raises(InvalidArgument, match=r"command line: unknown option 'prot'"):
        merge_config(ServerConfig(), prot=1)


def test_namespace_grace_from_file_and_flag(tmp_path):
    assert ServerConfig().namespace_grace == 60.0
    config = load_config(write(tmp_path, "namespace_grace = 300\n"))
    assert config.namespace_grace == 300.0
    assert merge_config(config, namespace_grace=None).namespace_grace == 300.0
    assert merge_config(config, namespace_grace=0.5).namespace_grace == 0.5
    with pytest.raises(InvalidArgument, match=r"command line: namespace_grace = -1 "):
        merge_config(config, namespace_grace=-1)
