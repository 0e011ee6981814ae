"""The op table read from coremltools' registry agrees with the catalog (the test oracle)."""

from __future__ import annotations

from pytest_coremlcheck.lint import catalog
from pytest_coremlcheck.lint.opsets import catalog_table, opset_table


def test_table_comes_from_the_registry():
    table = opset_table()
    assert table.source.startswith("coremltools ") and "registry" in table.source
    assert table.knows_dtypes
    assert table.newest_spec >= 9


def test_first_opset_of_every_op_matches_the_catalog():
    registry, fixed = opset_table(), catalog_table()
    assert set(registry.ops) == set(fixed.ops)
    for name in registry.ops:
        assert max(registry.first_spec(name), 6) == max(fixed.first_spec(name), 6), name


def test_added_inputs_match_the_catalog():
    registry = opset_table()
    for (op, key), spec in catalog.INPUTS_ADDED.items():
        assert registry.get(op).input_first_spec(key) == spec, (op, key)


def test_registry_knows_input_changes_the_catalog_lists():
    registry = opset_table()
    conv = registry.get("conv")
    assert conv.inputs_at(7)["bias"].const and not conv.inputs_at(8)["bias"].const
    assert conv.inputs_at(7)["weight"].domain == conv.inputs_at(7)["x"].domain
    assert conv.inputs_at(8)["weight"].domain != conv.inputs_at(8)["x"].domain
    assert "shape" in registry.get("constexpr_lut_to_dense").inputs_at(8)
    assert "shape" not in registry.get("constexpr_lut_to_dense").inputs_at(9)


def test_mixed_precision_ops_gain_a_type_domain_in_ios17():
    registry = opset_table()
    changed = set()
    for name in catalog.MIXED_PRECISION_OPS:
        info = registry.get(name)
        before, after = info.inputs_at(7), info.inputs_at(8)
        x_before, x_after = before["x"].domain, after["x"].domain
        shared_before = {k for k, v in before.items() if v.domain and v.domain == x_before}
        shared_after = {k for k, v in after.items() if v.domain and v.domain == x_after}
        if shared_after < shared_before:
            changed.add(name)
    assert changed >= {"conv", "linear", "layer_norm", "batch_norm", "matmul"}


def test_serializer_only_ops_are_known():
    assert opset_table().first_spec("write_state") == 9


def test_catalog_stands_in_when_the_registry_cannot_be_read(zoo, monkeypatch):
    from pytest_coremlcheck.lint import lint, opsets

    def broken():
        raise ImportError("registry moved")

    monkeypatch.setattr(opsets, "_from_registry", broken)
    opsets.opset_table.cache_clear()
    try:
        table = opsets.opset_table()
        assert table.source.startswith("catalog") and "ImportError" in table.source
        result = lint(zoo("iOS18-transformer"), target="iOS17")
        assert result.op_table == table.source
        assert "CML-O001" in {f.id for f in result.findings}
        assert result.required_by == "CML-O001"
    finally:
        opsets.opset_table.cache_clear()
