"""The documentation builds offline with no warning and every documented example runs.

The checks live in ``scripts/check_docs.py`` (also run by ``nox -s docs``); these tests run
them one item at a time and show that a broken example is reported.
"""

import importlib
import importlib.util
import os
import re
import shutil
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import check_docs  # noqa: E402

PAGES = sorted((ROOT / "docs").glob("*.md"))
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))
API_PAGES = [
    "features", "moe", "moirai", "datasets", "analysis", "persistence", "thresholds", "flows",
    "scoring", "streaming", "distributed",
]  # fmt: skip
EXTERNAL = re.compile(r"(src|href)=\"https?://[^\"]*(unpkg|jsdelivr|googleapis|gstatic|cdnjs)")


def _outcome(result):
    if result.status == "skipped":
        pytest.skip(f"{result.name}: {result.detail}")
    assert result.status == "passed", f"{result.name}:\n{result.detail}"


def _needs_mkdocs():
    missing = [m for m in ("mkdocs", "material", "mkdocstrings_handlers.python") if not _has(m)]
    if missing and os.environ.get("MOEIDS_DOCS_REQUIRED"):
        pytest.fail(f"the docs extra is not installed: {missing}")
    if missing:
        pytest.skip(f'needs the docs extra (pip install "moeids[docs]"): {missing}')


def _has(module):
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    _needs_mkdocs()
    folder = tmp_path_factory.mktemp("site")
    _outcome(check_docs.build_site(folder))
    return folder


def test_site_builds_strict_and_fetches_nothing(site):
    pages = list(site.rglob("*.html"))
    assert len(pages) > 30
    external = [str(p.relative_to(site)) for p in pages if EXTERNAL.search(p.read_text())]
    assert external == [], f"pages load assets from the internet: {external}"
    assert "load_sample" in (site / "tutorials" / "quickstart" / "index.html").read_text()


@pytest.mark.parametrize("name", API_PAGES)
def test_api_reference_lists_every_public_name(site, name):
    module = importlib.import_module(f"moeids.{name}")
    html = (site / "api" / name / "index.html").read_text()
    anchors = set(re.findall(r'id="(moeids[\w.]*)"', html))
    assert [n for n in module.__all__ if f"moeids.{name}.{n}" not in anchors] == []


def test_a_broken_link_fails_the_strict_build(tmp_path):
    _needs_mkdocs()
    for item in ("moeids", "examples", "tests"):
        (tmp_path / item).symlink_to(ROOT / item)
    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    shutil.copy(ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    with open(tmp_path / "docs" / "install.md", "a") as page:
        page.write("\nSee [the missing page](no_such_page.md).\n")
    result = check_docs.build_site(tmp_path / "site", config=tmp_path / "mkdocs.yml")
    assert result.status == "failed"
    assert "no_such_page.md" in result.detail


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_code_blocks_of_page_run(page):
    _outcome(check_docs.run_page(page))


@pytest.mark.slow
@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.name)
def test_example_runs(script):
    result = check_docs.run_example(script)
    _outcome(result)
    assert result.detail.strip(), "an example prints what it computes"


@pytest.mark.parametrize("module", check_docs.package_modules())
def test_doctests_pass(module):
    _outcome(check_docs.run_doctests(module))


def test_fences_decide_what_runs():
    text = "```python\nx = 1\n```\n\n```py\nundefined\n```\n\n~~~bash\nls\n~~~\n"
    blocks = check_docs.code_blocks(text)
    assert [(line, info) for line, info, _ in blocks] == [(1, "python"), (5, "py"), (9, "bash")]


def test_a_broken_code_block_is_reported_with_its_line(tmp_path):
    page = tmp_path / "broken.md"
    page.write_text(
        textwrap.dedent("""\
            # A page

            ```python
            from moeids.datasets import load_sample
            flows = load_sample()
            ```

            ```py
            illustrative_only(X_train)  # not run
            ```

            ```python
            flows.data["No such column"]
            ```
            """)
    )
    result = check_docs.run_page(page)
    assert result.status == "failed"
    assert "broken.md:13" in result.detail and "No such column" in result.detail


def test_a_block_needing_a_missing_extra_is_skipped_not_failed(tmp_path):
    page = tmp_path / "extra.md"
    page.write_text("```python\nraise ImportError('pip install \"moeids[moirai]\"')\n```\n")
    result = check_docs.run_page(page)
    assert (result.status, result.detail) == ("skipped", "skipped at extra.md:1: needs moirai")
    page.write_text("```python\nimport no_such_module_anywhere\n```\n")
    assert check_docs.run_page(page).status == "failed"  # not an optional dependency


def test_a_broken_example_script_is_reported(tmp_path):
    script = tmp_path / "broken_example.py"
    script.write_text("from moeids import FeatureSplitter\nFeatureSplitter(nonsense=1)\n")
    result = check_docs.run_example(script)
    assert result.status == "failed"
    assert "nonsense" in result.detail


def test_a_broken_doctest_is_reported(tmp_path, monkeypatch):
    (tmp_path / "documented.py").write_text(
        textwrap.dedent('''\
            def double(x):
                """Twice x.

                Examples
                --------
                >>> double(2)
                5
                """
                return 2 * x
            ''')
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    result = check_docs.run_doctests("documented")
    assert result.status == "failed"
    assert "Expected:\n    5\nGot:\n    4" in result.detail


def test_a_doctest_needing_a_missing_extra_is_skipped_not_failed(tmp_path, monkeypatch):
    (tmp_path / "needs_extra.py").write_text(
        textwrap.dedent('''\
            def forecast():
                """Needs uni2ts.

                Examples
                --------
                >>> forecast()
                1
                """
                raise ImportError('pip install "moeids[moirai]"')


            def plain():
                """Runs anywhere.

                Examples
                --------
                >>> plain()
                2
                """
                return 2
            ''')
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    result = check_docs.run_doctests("needs_extra")
    assert (result.status, result.detail) == ("skipped", "needs moirai")
    (tmp_path / "needs_nothing_known.py").write_text(
        'def f():\n    """\n    >>> import no_such_module_anywhere\n    """\n'
    )
    assert check_docs.run_doctests("needs_nothing_known").status == "failed"
