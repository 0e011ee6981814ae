"""The terminal summary table: fits the terminal by leaving out columns (``-v`` shows all),
colours the verdicts only when pytest's terminal has markup."""

from __future__ import annotations

import re

import pytest

from pytest_coremlcheck.report.summary import summary_lines
from pytest_coremlcheck.store import CheckStore

ANSI = re.compile(r"\x1b\[[0-9;]*m")
ALL_COLUMNS = ("test", "output", "backend", "max_abs", "rmse", "snr_db", "psnr_db", "cosine",
               "top1", "ssim", "result")


def _store() -> CheckStore:
    store = CheckStore()
    store.add("tests/test_models.py::test_block", {
        "name": "test_block", "backend": "reference", "platform": "reference executor, fp32",
        "passed": True, "outputs": {"logits": {
            "passed": True, "max_abs": 1.25e-6, "rmse": 3e-7, "snr_db": 120.25,
            "psnr_db": 131.5, "cosine": 0.9999999, "top1": 1.0, "ssim": 0.99}}})
    store.add("tests/test_models.py::test_wrong", {
        "name": "test_wrong [fp16]", "backend": "reference", "passed": False,
        "outputs": {"y": {"passed": False, "max_abs": 0.5, "snr_db": 3.0, "cosine": 0.9}}})
    store.add("tests/test_models.py::test_gone", {
        "name": "test_gone", "backend": "-", "passed": False, "error": "no such file",
        "outputs": {}})
    return store


def _row(lines: list[str], text: str) -> list[str]:
    return next(line for line in lines if text in line).split()


def test_without_a_width_every_column_shows_on_one_line_per_row():
    lines = summary_lines(_store().checks)
    assert lines[0].split() == list(ALL_COLUMNS)
    assert set(lines[1]) == {"-"}
    assert _row(lines, "test_block") == [
        "tests/test_models.py::test_block", "logits", "reference", "1.25e-06", "3e-07", "120.2",
        "131.5", "0.9999999", "1", "0.99", "ok"]
    assert _row(lines, "test_wrong")[-1] == "FAIL" and _row(lines, "test_gone")[-1] == "ERROR"
    assert lines[-1] == "3 check(s), 2 failed; ran on: reference executor, fp32"
    assert not any("left out" in line for line in lines)


def test_a_narrow_terminal_leaves_out_the_lowest_priority_columns_and_names_them():
    lines = summary_lines(_store().checks, width=80)
    assert max(len(line) for line in lines) <= 80
    # the longest label word 32 (``[fp16]`` wraps to the next line) + logits 6 + reference 9
    # + snr_db 6 + cosine 8 + result 6, two spaces apart: 77 (+ max_abs 8 + 2 would be 87)
    assert lines[0].split() == ["test", "output", "backend", "snr_db", "cosine", "result"]
    assert _row(lines, "test_block") == [
        "tests/test_models.py::test_block", "logits", "reference", "120.2", "0.9999999", "ok"]
    wrong = lines.index(next(line for line in lines if "test_wrong" in line))
    assert lines[wrong].split()[-1] == "FAIL" and lines[wrong + 1].strip() == "[fp16]"
    note = " ".join(lines[lines.index(next(x for x in lines if "left out" in x)):])
    assert note == ("columns left out to fit 80 characters: max_abs, rmse, psnr_db, top1, "
                    "ssim; -v shows all")


def test_the_label_output_and_verdict_stay_and_the_label_folds_when_nothing_else_fits():
    lines = summary_lines(_store().checks, width=30)
    assert max(len(line) for line in lines) <= 30
    assert lines[0].split() == ["test", "output", "result"]
    assert "tests/test_models.py::test_block" in "".join(line.split()[0] for line in lines[2:6])


def test_show_all_keeps_every_column_and_folds_the_label_to_the_width():
    lines = summary_lines(_store().checks, width=100, show_all=True)
    assert max(len(line) for line in lines) <= 100
    assert lines[0].split() == list(ALL_COLUMNS)
    assert _row(lines, "logits")[1:] == [
        "logits", "reference", "1.25e-06", "3e-07", "120.2", "131.5", "0.9999999", "1",
        "0.99", "ok"]
    assert not any("tests/test_models.py::test_wrong [fp16]" in line for line in lines)
    assert not any("left out" in line for line in lines)


def test_show_all_wraps_every_cell_when_the_columns_cannot_fit():
    lines = summary_lines(_store().checks, width=60, show_all=True)
    assert max(len(line) for line in lines) <= 60
    assert not any("left out" in line for line in lines)
    rule = next(i for i, line in enumerate(lines) if set(line) == {"-"})
    assert len(lines[rule + 1].split()) == len(ALL_COLUMNS)  # each cell's first line


@pytest.mark.parametrize("verdict, code", [("ok", "32"), ("FAIL", "31"), ("ERROR", "1;31")])
def test_verdicts_are_coloured_only_with_markup(verdict, code):
    coloured = summary_lines(_store().checks, width=80, color=True)
    assert any(f"\x1b[{code}m{verdict}" in line for line in coloured)
    assert [ANSI.sub("", line) for line in coloured] == summary_lines(_store().checks, width=80)
    assert not any(ANSI.search(line) for line in summary_lines(_store().checks, width=80))


def test_label_brackets_are_text_not_markup():
    lines = summary_lines(_store().checks, width=200, color=True)
    assert any("tests/test_models.py::test_wrong [fp16]" in ANSI.sub("", line) for line in lines)


MODEL = '''
import coremltools as ct
import pytest
import torch


@pytest.fixture(scope="session")
def package(tmp_path_factory):
    path = tmp_path_factory.mktemp("m") / "Tanh.mlpackage"
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(6, 4), torch.nn.Tanh()).eval()
    ct.convert(torch.jit.trace(net, torch.ones(1, 6)), skip_model_load=True,
               inputs=[ct.TensorType(name="x", shape=(1, 6))],
               outputs=[ct.TensorType(name="y")],
               compute_precision=ct.precision.FLOAT32).save(str(path))
    return net, path


class Shift(torch.nn.Module):
    def forward(self, x):
        return x + 0.5
'''

TESTS = '''
def test_a_check_with_a_long_name_to_make_the_table_wide(coreml_check, package):
    coreml_check(*package)

def test_shifted(coreml_check, package):
    import torch
    from conftest import Shift
    net, path = package
    coreml_check(torch.nn.Sequential(net, Shift()), path)
'''


@pytest.fixture
def inner(pytester, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.delenv("NO_COLOR", raising=False)
    pytester.makeconftest(MODEL)
    pytester.makepyfile(TESTS)
    return pytester


def _section(result) -> list[str]:
    lines = result.outlines
    start = next(i for i, line in enumerate(lines) if "Core ML equivalence" in ANSI.sub("", line)
                 and "=" in line)
    end = next(i for i, line in enumerate(lines[start + 1:], start + 1) if "====" in line)
    notices = "coremlcheck held back"  # the start-up notices' line, not the table's
    return [line for line in lines[start + 1:end] if not ANSI.sub("", line).startswith(notices)]


@pytest.mark.slow
def test_pytest_at_80_columns_fits_the_table_and_colours_verdicts_with_color_yes(inner):
    result = inner.runpytest_subprocess("-p", "no:cacheprovider", "--coreml-backend=reference",
                                        "--color=yes")
    result.assert_outcomes(passed=1, failed=1)
    section = _section(result)
    assert max(len(ANSI.sub("", line)) for line in section) <= 80
    assert any("\x1b[32mok" in line for line in section)
    assert any("\x1b[31mFAIL" in line for line in section)
    plain = "\n".join(ANSI.sub("", line) for line in section)
    assert "columns left out to fit 80 characters: " in plain and "-v shows all" in plain
    assert "rmse" in plain.split("left out")[1]


@pytest.mark.slow
def test_pytest_verbose_shows_every_column_and_color_no_has_no_escapes(inner, monkeypatch):
    monkeypatch.setenv("COLUMNS", "130")
    result = inner.runpytest_subprocess("-p", "no:cacheprovider", "--coreml-backend=reference",
                                        "--color=no", "-v")
    result.assert_outcomes(passed=1, failed=1)
    section = _section(result)
    assert not any(ANSI.search(line) for line in section)
    assert max(len(line) for line in section) <= 130
    assert section[0].split() == [*ALL_COLUMNS[:-1], "fp32", "floor→limit", "result"]
    assert "left out" not in "\n".join(section)


@pytest.mark.slow
def test_pytest_honours_no_color_over_force_color(inner, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.delenv("PY_COLORS", raising=False)
    result = inner.runpytest_subprocess("-p", "no:cacheprovider", "--coreml-backend=reference")
    section = _section(result)
    assert section and not any(ANSI.search(line) for line in section)
