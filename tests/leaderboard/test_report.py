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


def _screen(driver):
    import io

    import numpy as np
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(driver.get_screenshot_as_png())).convert("RGB"))


def _legend_marks(driver, svg: Path) -> dict[str, tuple[int, int]]:
    """For each legend entry of ``svg`` (id legend-I): how many marks of its submission
    (id series-I) the plot has, and how many pixels change clearly when they are hidden."""
    import numpy as np

    driver.get(svg.resolve().as_uri())
    entries = driver.execute_script(
        "return [...document.querySelectorAll('[id^=\"legend-\"]')].map(e => e.id.slice(7))")
    before = _screen(driver)
    out = {}
    for i in entries:
        toggle = ("const m = document.querySelectorAll('[id=\"series-" + i + "\"]');"
                  "m.forEach(e => e.style.visibility = arguments[0]); return m.length")
        n = driver.execute_script(toggle, "hidden")
        hidden = _screen(driver)
        driver.execute_script(toggle, "visible")
        out[i] = (n, int((np.abs(hidden.astype(int) - before).max(axis=-1) > 64).sum()))
    return out


def test_every_legend_entry_has_a_visible_mark_in_chromium(scored, report_dir):
    from selenium.webdriver.common.by import By

    methods = ["rvos_oracle", "oracle"]          # in the order the report was given them
    visit = open_page(report_dir / "index.html")
    try:
        captions = [f.text for f in visit.driver.find_elements(By.CSS_SELECTOR,
                                                               ".plots figcaption")]
        svgs = [Path(i.get_attribute("src").removeprefix("file://"))
                for i in visit.driver.find_elements(By.CSS_SELECTOR, ".plots img")]
        assert len(svgs) == len(captions) == 4
        for svg, caption in zip(svgs, captions):
            marks = _legend_marks(visit.driver, svg)
            for i, name in enumerate(methods):
                if str(i) not in marks:          # no legend entry: the caption says why
                    assert f"Not shown: {name} (" in caption or f"; {name} (" in caption, \
                        (svg.name, name)
                    continue
                n, changed = marks[str(i)]
                assert n >= 1 and changed >= 10, f"{name} cannot be seen in {svg.name}"
    finally:
        visit.driver.quit()


def test_browser_check_sees_a_request_leaving_the_folder(tmp_path):
    page = tmp_path / "leaky.html"
    page.write_text('<!DOCTYPE html><html><head><link rel="icon" href="data:,"></head><body>'
                    '<img src="https://example.invalid/x.png"></body></html>')
    visit = open_page(page)
    visit.driver.quit()
    assert "https://example.invalid/x.png" in visit.requests
    assert any(e["level"] == "SEVERE" for e in visit.console)
