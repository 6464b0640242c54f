"""How the template's tests judge a run of a generated suite: wherever they
run one, a failure, an expected failure or an unexpected pass fails the
calling test, and a skip skips it with its reason (which CI does not accept)."""

import sys
import textwrap

import pytest
from support.project import generated_suite

OUTCOMES = {
    "passes": "def test_passes(): pass",
    "fails": "def test_fails(): assert False",
    "skips": "import pytest\n@pytest.mark.skip(reason='no service here')\ndef test_skips(): pass",
    "xfails": "import pytest\n@pytest.mark.xfail(reason='known bug')\ndef test_xfails(): assert False",
    "xpasses": "import pytest\n@pytest.mark.xfail(reason='known bug')\ndef test_xpasses(): pass",
}


def suite(tmp_path, *outcomes):
    for outcome in ("passes", *outcomes):
        (tmp_path / f"test_{outcome}.py").write_text(textwrap.dedent(OUTCOMES[outcome]) + "\n")
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    return tmp_path


def test_a_suite_that_passes_is_accepted(tmp_path):
    assert "1 passed" in generated_suite(sys.executable, suite(tmp_path))


@pytest.mark.parametrize("outcome", ["fails", "xfails", "xpasses"])
def test_a_failure_an_expected_failure_or_an_unexpected_pass_fails_the_calling_test(tmp_path, outcome):
    with pytest.raises(AssertionError, match=f"test_{outcome}"):
        generated_suite(sys.executable, suite(tmp_path, outcome))


def test_a_skip_skips_the_calling_test_with_its_reason(tmp_path):
    with pytest.raises(pytest.skip.Exception, match="no service here"):
        generated_suite(sys.executable, suite(tmp_path, "skips"))
