"""checkov over the template (defaults and every option on) and the Dockerfile: 0 failed
checks, and every suppression next to what it excuses, with its reason. (~35 s: three
checkov runs.)"""

import re

import pytest

from deploy import security_scan
from deploy import template as cfn

pytestmark = pytest.mark.e2e  # checkov runs as a process (see pyproject.toml's markers)


def test_checkov_reports_no_failed_check():
    scans = security_scan.scan_all()
    assert [s.target for s in scans] == ["template, default parameters", "template, every option on",
                                         "docker/Dockerfile"]
    for scan in scans:
        assert scan.failed == 0, scan.output
        assert scan.passed > 0, scan.output
    # Every option on brings the load balancer, buckets and table into view.
    assert scans[1].passed > scans[0].passed


def test_every_suppression_sits_on_its_resource_with_a_reason():
    suppressions = [(name, skip) for name, resource in cfn.load().resources.items()
                    for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])]
    assert suppressions
    for name, skip in suppressions:
        assert re.fullmatch(r"CKV_AWS_\d+", skip["id"]) and len(skip["comment"]) > 40, (name, skip)
    dockerfile = security_scan.DOCKERFILE.read_text()
    for line in re.findall(r"#\s*checkov:skip=.*", dockerfile):
        check, reason = line.split("=", 1)[1].split(":", 1)
        assert re.fullmatch(r"CKV_DOCKER_\d+", check) and len(reason.strip()) > 40, line
