"""The Markdown report: escaping of user strings, the GitHub step summary."""

from __future__ import annotations

import os

import pytest

from pytest_coremlcheck.report import markdown, step_summary, write_atomic, write_report

NASTY = "a|b `code` <img src=x onerror=alert(1)> *bold* [link](javascript:x)\nnext_line"


def _check(name: str = NASTY) -> dict:
    return {"name": name, "test": f"tests/t.py::test[{name}]", "passed": False,
            "backend": "reference", "platform": "reference executor, fp16-typed",
            "model": name, "source": "torch", "inputs": "tensors(n=1)",
            "outputs": {name: {"passed": False, "tolerance": {"min_snr_db": 30.0},
                               "failures": [f"{name}: SNR 3 dB < min_snr_db=30 dB"],
                               "snr_db": 3.0, "max_abs": 0.5}},
            "failures": [f"{name}: SNR 3 dB < min_snr_db=30 dB"], "notes": [name],
            "hazards": [{"message": name}], "variant": name, "step": "fp16 → int8"}


def test_escape_leaves_no_markup():
    text = markdown.escape(NASTY)
    assert "\n" not in text and "<" not in text and ">" not in text
    for char in "|`*[]_":
        assert text.count(char) == text.count("\\" + char)  # every one escaped
    assert "&lt;img src=x onerror=alert(1)&gt;" in text


def test_user_strings_cannot_break_tables_or_inject_html(tmp_path):
    text = write_report(tmp_path / "r.md", [_check()]).read_text()
    assert "<img" not in text and "`code`" not in text and "[link](" not in text
    assert "\\[link\\](javascript:x)" in text
    rows = [line for line in text.splitlines() if line.startswith("| tests/t.py")]
    assert len(rows) == 2  # the summary row and the error-budget row, one line each
    for row in rows:  # unescaped pipes are cell borders: the header's count, no more
        cells = row.replace("\\|", "").count("|")
        header = "| test | output | backend |" if "reference" in row else "| test | variant |"
        table = next(line for line in text.splitlines() if line.startswith(header))
        assert cells == table.count("|")


def test_step_summary_is_appended_once_when_the_variable_is_set(tmp_path, monkeypatch):
    target = tmp_path / "summary.md"
    target.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(target))
    checks = [_check(f"unique {tmp_path.name}")]
    write_report(tmp_path / "a.md", checks)
    write_report(tmp_path / "sub" / "b.md", checks)  # same session content: not again
    write_report(tmp_path / "r.json", checks)  # other formats do not write the summary
    text = target.read_text()
    assert text.startswith("earlier step\n# Core ML equivalence report")
    assert text.count("# Core ML equivalence report") == 1


def test_no_step_summary_without_the_variable(tmp_path, monkeypatch):
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    assert not step_summary.append_step_summary("# report\n")
    assert list(tmp_path.iterdir()) == []


def test_long_step_summary_is_cut_at_a_line(tmp_path, monkeypatch):
    target = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(target))
    monkeypatch.setattr(step_summary, "LIMIT_BYTES", 100)
    assert step_summary.append_step_summary("".join(f"line {i:04d}\n" for i in range(100)))
    text = target.read_text()
    assert text.startswith("line 0000\n") and "line 0099" not in text
    assert text.endswith(step_summary.TRUNCATED)
    assert len(text) - len(step_summary.TRUNCATED) <= 100


@pytest.mark.parametrize("suffix", [".md", ".html"])
def test_a_failing_write_leaves_the_older_report_intact(tmp_path, suffix, monkeypatch):
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    path = write_report(tmp_path / f"r{suffix}", [_check("first")])
    before = path.read_text()
    with pytest.raises(UnicodeEncodeError):  # a lone surrogate cannot be written as UTF-8
        write_report(path, [_check("second \ud800")])
    assert path.read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # no temporary left


def test_a_failing_replace_leaves_the_target_and_no_temporary(tmp_path):
    target = tmp_path / "r.json"
    target.mkdir()
    (target / "keep").write_text("x")
    with pytest.raises(OSError):
        write_atomic(target, "{}")
    assert (target / "keep").read_text() == "x"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]


def test_reports_get_the_usual_file_mode(tmp_path):
    path = write_report(tmp_path / "r.json", [_check("mode")])
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask


def test_rows_of_one_test_name_their_variant():
    checks = []
    for variant in ("fp16", "int8"):
        check = _check("out")
        check.update(name=f"test_v [{variant}]", test="tests/t.py::test_v", variant=variant)
        checks.append(check)
    text = markdown.render(checks, {})
    assert "| tests/t.py::test\\_v \\[fp16\\] | out |" in text
    assert "| tests/t.py::test\\_v \\[int8\\] | out |" in text


def test_a_failing_cosine_near_one_keeps_its_digits():
    check = {"test": "tests/x.py::t", "name": "t", "passed": False, "backend": "reference",
             "platform": "reference executor, fp32",
             "outputs": {"y": {"cosine": 0.999985, "snr_db": 48.2, "passed": False,
                               "tolerance": {"min_cosine": 0.99999}}}}
    text = markdown.render([check], {})
    row = next(line for line in text.splitlines() if line.startswith("| tests/x.py::t"))
    assert "0.999985" in row and "**FAIL**" in row
