"""`r2bench report`: the folder's contents, reproducible bytes, and the page in Chromium."""

import json
from pathlib import Path

import pytest
from browser import open_page
from click.testing import CliRunner

from r2bench.cli import main


def _report(scored, out: Path, *extra):
    res = CliRunner().invoke(main, ["report", str(scored["rvos_oracle"]), str(scored["oracle"]),
                                    "--dataset", str(scored["r2"]), "--preds",
                                    str(scored["rvos_oracle_preds"]), "--out", str(out),
                                    "--worst", "4", *extra])
    return res


@pytest.fixture(scope="module")
def report_dir(scored, tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "rep"
    res = _report(scored, out)
    assert res.exit_code == 0, res.output
    return out


def test_report_folder(report_dir):
    names = sorted(p.relative_to(report_dir).as_posix() for p in report_dir.rglob("*")
                   if p.is_file())
    assert names[:1] == ["index.html"]
    assert {"plots/jf_vs_r.svg", "plots/j_histogram.svg", "plots/false_alarm.svg",
            "plots/j_per_category.svg"} <= set(names)
    assert sum(n.startswith("thumbs/positive_") for n in names) == 4
    assert sum(n.startswith("thumbs/negative_") for n in names) == 4
    page = (report_dir / "index.html").read_text()
    assert "http://" not in page and "https://" not in page and "<script" not in page


def test_report_is_reproducible(scored, report_dir, tmp_path):
    again = tmp_path / "again"
    assert _report(scored, again).exit_code == 0
    for path in report_dir.rglob("*"):
        if path.is_file():
            assert path.read_bytes() == (again / path.relative_to(report_dir)).read_bytes(), path


def test_report_refuses_predictions_of_another_submission(scored, tmp_path):
    res = CliRunner().invoke(main, ["report", str(scored["rvos_oracle"]), "--dataset",
                                    str(scored["r2"]), "--preds",
                                    str(scored["oracle_preds"]), "--out",
                                    str(tmp_path / "r")])
    assert res.exit_code == 2 and "not of the same submission" in res.output
    assert not (tmp_path / "r").exists()


def test_report_refuses_an_existing_folder(scored, report_dir):
    res = _report(scored, report_dir)
    assert res.exit_code == 2 and "already exists" in res.output


def _cells(driver):
    from selenium.webdriver.common.by import By

    rows = driver.find_elements(By.CSS_SELECTOR, "#summary tbody tr")
    heads = [h.text for h in driver.find_elements(By.CSS_SELECTOR, "#summary thead th")]
    return [dict(zip(heads, (c.text for c in r.find_elements(By.TAG_NAME, "td")))) for r in rows]


def test_report_in_chromium(scored, report_dir, tmp_path):
    visit = open_page(report_dir / "index.html")
    try:
        shot = tmp_path / "report.png"
        assert visit.driver.save_screenshot(str(shot)) and shot.stat().st_size > 20_000
        folder = report_dir.resolve().as_uri() + "/"
        outside = [u for u in visit.requests if not u.startswith((folder, "data:"))]
        assert outside == [] and len(visit.requests) >= 1 + 4 + 8
        assert [e for e in visit.console if e["level"] == "SEVERE"] == []
        broken = visit.driver.execute_script(
            "return [...document.images].filter(i => !i.complete || !i.naturalWidth)"
            ".map(i => i.src)")
        assert broken == []
        rows = {r["Method"]: r for r in _cells(visit.driver)}
    finally:
        visit.driver.quit()
    titles = {"J": "J", "F": "F", "JF": "J&F", "R": "R", "JFR": "J&F&R"}
    for kind in ("rvos_oracle", "oracle"):
        summary = json.loads(scored[kind].read_text())["summary"]
        shown = {k: rows[kind][t] for k, t in titles.items()}
        assert shown == {k: f"{100 * summary[k]:.1f}" for k in titles}
        assert rows[kind]["Backbone"] == "ResNet-50"


def test_browser_check_sees_a_request_leaving_the_folder(tmp_path):
    page = tmp_path / "leaky.html"
    page.write_text('<!DOCTYPE html><html><head><link rel="icon" href="data:,"></head><body>'
                    '<img src="https://example.invalid/x.png"></body></html>')
    visit = open_page(page)
    visit.driver.quit()
    assert "https://example.invalid/x.png" in visit.requests
    assert any(e["level"] == "SEVERE" for e in visit.console)
