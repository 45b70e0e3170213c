"""Per-test results of one run of a test binary: GoogleTest's XML report, or the exit status alone."""

import xml.etree.ElementTree as ET


def parse_gtest_xml(path):
    """{'Suite.Test': 'passed'|'failed'|'skipped'} from a --gtest_output=xml file, or None if unreadable."""
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return None
    results = {}
    for case in root.iter("testcase"):
        name = f"{case.get('classname')}.{case.get('name')}"
        if case.find("failure") is not None or case.find("error") is not None:
            results[name] = "failed"
        elif case.get("result") == "skipped" or case.find("skipped") is not None:
            results[name] = "skipped"
        elif case.get("status") == "notrun":
            results[name] = "not run"
        else:
            results[name] = "passed"
    return results
