"""JUnit XML details that the plugin tests do not reach."""

import xml.etree.ElementTree as ET

from bnconform.reports.junit import junit_xml, split_nodeid

from .conftest import make_record


def test_node_ids_split_like_pytest_junitxml():
    assert split_nodeid("bnconform/conformance/test_bn.py::test_fwd[torch-train-float32]") == (
        "bnconform.conformance.test_bn", "test_fwd[torch-train-float32]")
    assert split_nodeid("tests/test_a.py::TestX::test_y") == ("tests.test_a.TestX", "test_y")
    assert split_nodeid("tests/test_broken.py") == ("tests.test_broken", "test_broken")


def test_control_characters_do_not_break_the_xml():
    record = make_record(verdict="fail", message="\x1b[31mred\x1b[0m and \x00 nul")
    root = ET.fromstring(junit_xml({"name": "r"}, [record]).encode())
    failure = root.find("testsuite/testcase/failure")
    assert failure.text == "\ufffd[31mred\ufffd[0m and \ufffd nul"


def test_collection_errors_and_known_deviations():
    run = {"name": "r", "collection_errors": [{"id": "tests/test_gone.py", "message": "ImportError: gone"}]}
    records = [make_record(verdict="known-deviation", reason="rounds twice"), make_record(verdict="fixed-deviation",
                                                                                         reason="was wrong")]
    suite = ET.fromstring(junit_xml(run, records).encode()).find("testsuite")
    assert {k: suite.get(k) for k in ("tests", "failures", "errors", "skipped")} == {
        "tests": "3", "failures": "0", "errors": "1", "skipped": "1"}
    known, fixed, broken = suite.findall("testcase")
    assert known.find("skipped").get("message") == "known deviation: rounds twice"
    assert known.find("skipped").get("type") == "known-deviation"
    assert "fixed deviation" in fixed.find("system-out").text
    assert broken.get("name") == "test_gone" and broken.find("error").text == "ImportError: gone"
