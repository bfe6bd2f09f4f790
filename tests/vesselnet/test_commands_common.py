"""The YAML files behind command options (vesselnet.commands._common.yaml_mapping): one rule for
prepare --config, tune --space, cv --overrides / --prepare-config; plain data only, a mapping,
one error line naming the option (exit code 2)."""
from __future__ import annotations

import pytest

from vesselnet.cli import main


def _command(name: str, option: str, path, tmp_path) -> list[str]:
    out = str(tmp_path / "out")
    return {
        "prepare": ["prepare", "synthetic:1", "--out", out, option, str(path)],
        "tune": ["tune", "--preset", "multitask", "--data", "synthetic:1", "--trials", "1",
                 "--out", out, option, str(path)],
        "cv": ["cv", "--data", "synthetic:2", "--out", out, option, str(path)],
    }[name]


CASES = [("prepare", "--config", "PrepareConfig keys"), ("tune", "--space", "parameter names to ranges"),
         ("cv", "--overrides", "config keys"), ("cv", "--prepare-config", "PrepareConfig keys")]


@pytest.mark.parametrize("name, option, holds", CASES)
def test_a_list_is_refused_naming_the_option(tmp_path, capsys, name, option, holds):
    bad = tmp_path / "list.yaml"
    bad.write_text("- 1\n- 2\n")
    assert main(_command(name, option, bad, tmp_path)) == 2
    err = capsys.readouterr().err
    assert f"{option}: {str(bad)!r} must hold a mapping of {holds}, got list" in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name, option, holds", CASES)
def test_unreadable_or_unsafe_yaml_is_refused(tmp_path, capsys, name, option, holds):
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00bad")
    unsafe = tmp_path / "unsafe.yaml"
    unsafe.write_text(f"!!python/object/apply:os.system ['touch {tmp_path / 'pwned'}']\n")
    for path in (binary, unsafe, tmp_path / "missing.yaml"):
        assert main(_command(name, option, path, tmp_path)) == 2
        err = capsys.readouterr().err
        assert f"{option}: cannot read {str(path)!r} as plain YAML (" in err, err
        assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "pwned").exists()


def test_an_empty_file_is_an_empty_mapping(tmp_path):
    from vesselnet.commands._common import yaml_mapping

    empty = tmp_path / "empty.yaml"
    empty.write_text("# nothing\n")
    assert yaml_mapping(empty, "--config", "keys") == {}
    nested = tmp_path / "nested.yaml"
    nested.write_text("run:\n  epochs: 2\n")
    assert yaml_mapping(nested, "--overrides", "config keys") == {"run": {"epochs": 2}}
