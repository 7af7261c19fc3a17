"""clean_host_result: what a scanned host printed is neutralised in every package field, and only there."""

from __future__ import annotations

from console.domain.run import HostResult, HostStatus
from console.domain.terminal import clean_host_result


def _result(packages: list[dict]) -> HostResult:
    return HostResult(run_id="r1", task_id="t1", host="web-01", status=HostStatus.OK, packages=packages)


def _package(name: str, repository: str = "updates") -> dict:
    return {"name": name, "installed": "1.0", "available": "1.1", "arch": "x86_64", "repository": repository,
            "security": False}


def test_one_hostile_field_among_many_clean_packages_is_neutralised():
    packages = [_package(f"pkg{i}") for i in range(50)]
    packages.append(_package("openssl", repository="\x1b]0;pwned\x07main\u202e"))
    result = clean_host_result(_result(packages))
    assert result.packages[-1]["repository"] == "\\x1b]0;pwned\\x07main\\u202e"
    assert result.packages[:50] == [_package(f"pkg{i}") for i in range(50)]
    assert result.packages[-1]["security"] is False


def test_tabs_newlines_and_printable_unicode_in_package_fields():
    result = clean_host_result(_result([_package("a\tb"), _package("c\nd"), _package("libcafé")]))
    assert [p["name"] for p in result.packages] == ["a b", "c\\x0ad", "libcafé"]


def test_clean_packages_are_left_as_they_are():
    packages = [_package("bash"), _package("curl")]
    result = clean_host_result(_result(packages))
    assert result.packages == [_package("bash"), _package("curl")]
