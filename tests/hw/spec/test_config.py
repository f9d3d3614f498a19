"""Configuration: validation messages name the field, value and allowed range; files
round-trip through TOML and JSON."""

import json

import pytest
from hypothesis import given, strategies as st

from hw.spec.config import (ChipConfig, ConfigError, CoreConfig, MemoryConfig, NocConfig, Protection)


@pytest.mark.parametrize("make,message", [
    (lambda: CoreConfig(lanes=3),
     "CoreConfig.lanes: 3 is out of range: must be a power of two in 1..64"),
    (lambda: CoreConfig(lanes=128),
     "CoreConfig.lanes: 128 is out of range: must be a power of two in 1..64"),
    (lambda: CoreConfig(weight_bits=1),
     "CoreConfig.weight_bits: 1 is out of range: must be an integer in 2..16"),
    (lambda: CoreConfig(neurons=100, lanes=8),
     "CoreConfig.neurons: 100 is not a multiple of lanes (8)"),
    (lambda: CoreConfig(acc_bits=12),
     "CoreConfig.acc_bits: 12 is below weight_bits + payload_bits (16): one product would not fit"),
    (lambda: CoreConfig(payload_bits=1),
     "CoreConfig.payload_bits: 1 cannot carry a binary spike: payloads are two's "
     "complement and a spike is +1, which needs at least 2 bits"),
    (lambda: CoreConfig(lanes="4"), "CoreConfig.lanes: must be an integer, not '4'"),
    (lambda: CoreConfig(lanes=True), "CoreConfig.lanes: must be an integer, not True"),
    (lambda: NocConfig(fifo_depth=3),
     "NocConfig.fifo_depth: 3 is out of range: must be a power of two in 2..256"),
    (lambda: MemoryConfig(counter_bits=0),
     "MemoryConfig.counter_bits: 0 is out of range: must be an integer in 1..32"),
    (lambda: ChipConfig(core=4), "ChipConfig.core: must be a CoreConfig, not 4"),
])
def test_validation_messages(make, message):
    with pytest.raises(ConfigError) as e:
        make()
    assert str(e.value) == message


@pytest.mark.parametrize("data,path,message", [
    ({"core": {"lanes": 3}}, "core.lanes",
     "core.lanes: 3 is out of range: must be a power of two in 1..64"),
    ({"memory": {"protection": {"weights": "ecc"}}}, "memory.protection.weights",
     "memory.protection.weights: 'ecc' is not one of 'none', 'parity', 'secded'"),
    ({"noc": {"widht": 2}}, "noc.widht",
     "noc.widht: unknown field; NocConfig has: fifo_depth, height, routes, width"),
    ({"core": 5}, "core", "core: must be a table of fields, not 5"),
])
def test_nested_errors_use_dotted_paths(data, path, message):
    with pytest.raises(ConfigError) as e:
        ChipConfig.from_dict(data)
    assert e.value.path == path
    assert str(e.value) == message


@pytest.mark.parametrize("suffix", [".toml", ".json"])
def test_file_round_trip(tmp_path, suffix):
    cfg = ChipConfig(core=CoreConfig(lanes=8, neurons=512),
                     memory=MemoryConfig(protection=ChipConfig().memory.protection.replace(
                         weights=Protection.SECDED)))
    path = tmp_path / f"chip{suffix}"
    cfg.save(path)
    back = ChipConfig.load(path)
    assert back == cfg
    assert back.hash == cfg.hash
    assert back.memory.protection.weights is Protection.SECDED


def test_partial_file_keeps_defaults(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[core]\nlanes = 8\n\n[memory.protection]\nweights = "parity"\n')
    cfg = ChipConfig.load(path)
    assert cfg.core.lanes == 8 and cfg.core.neurons == CoreConfig().neurons
    assert cfg.memory.protection.weights is Protection.PARITY
    assert cfg.memory.protection.for_role("weights") is Protection.PARITY
    assert cfg.memory.protection.for_role("delay_queue") is Protection.NONE


def test_bad_files(tmp_path):
    with pytest.raises(ConfigError, match=r"cannot read config file"):
        ChipConfig.load(tmp_path / "missing.toml")
    (tmp_path / "c.yaml").write_text("x: 1")
    with pytest.raises(ConfigError, match=r"config files must end in .toml or .json"):
        ChipConfig.load(tmp_path / "c.yaml")
    (tmp_path / "c.toml").write_text("[core\n")
    with pytest.raises(ConfigError, match=r"not valid TOML"):
        ChipConfig.load(tmp_path / "c.toml")


def test_hash_changes_with_any_field():
    base = ChipConfig()
    assert base.hash == ChipConfig().hash
    assert base.replace(noc=NocConfig(width=2)).hash != base.hash
    assert json.loads(base.dumps("json"))["core"]["lanes"] == base.core.lanes


@given(st.sampled_from([1, 2, 4, 8, 16]), st.integers(1, 64))
def test_valid_lane_neuron_combinations_construct(lanes, groups):
    cfg = CoreConfig(lanes=lanes, neurons=lanes * groups, synapses=lanes * 64)
    assert cfg.neurons % cfg.lanes == 0
