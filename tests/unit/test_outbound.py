"""fhirServer allowlist: what we may call with an EHR's token, decided before connecting."""

from __future__ import annotations

import pytest

from cds_hooks.issuers import TrustedIssuer
from cds_hooks.outbound import OutboundError, check_fhir_server, same_origin
from cds_hooks.settings import Settings

PROD = Settings(
    CDS_DEV_MODE=False,
    CDS_FHIR_ALLOWLIST="https://ehr.example.org/fhir/r4/, https://EHR2.example.org:8443",
)
DEV = Settings(CDS_DEV_MODE=True, CDS_FHIR_ALLOWLIST="")
DEV_WITH_LIST = Settings(CDS_DEV_MODE=True, CDS_FHIR_ALLOWLIST="https://ehr.example.org/fhir")
PROD_NO_LIST = Settings(CDS_DEV_MODE=False, CDS_FHIR_ALLOWLIST="")
ISSUER = TrustedIssuer(
    iss="https://ehr-a.example.org",
    jwks_url="https://ehr-a.example.org/jwks",
    jku_allowlist=(),
    fhir_servers=("https://fhir.ehr-a.example.org/api/FHIR/R4",),
)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://ehr.example.org/fhir/r4", "https://ehr.example.org/fhir/r4"),
        ("https://ehr.example.org/fhir/r4/", "https://ehr.example.org/fhir/r4"),
        ("HTTPS://EHR.Example.ORG:443/fhir/r4", "https://ehr.example.org/fhir/r4"),
        ("https://ehr.example.org./fhir/r4", "https://ehr.example.org/fhir/r4"),
        ("https://ehr.example.org/fhir/r4/tenant-7", "https://ehr.example.org/fhir/r4/tenant-7"),
        ("https://ehr2.example.org:8443/anything", "https://ehr2.example.org:8443/anything"),
    ],
)
def test_allowed_in_production(url: str, expected: str) -> None:
    assert check_fhir_server(url, issuer=None, settings=PROD) == expected


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("https://evil.example.org/fhir/r4", "allowlist"),
        ("https://ehr.example.org/fhir", "allowlist"),  # parent of the allowed path
        ("https://ehr.example.org/fhir/r4-admin", "allowlist"),  # not a segment boundary
        ("https://ehr.example.org:444/fhir/r4", "allowlist"),  # other port
        ("https://ehr2.example.org/fhir", "allowlist"),  # default port ≠ 8443
        ("https://ehr.example.org.evil.net/fhir/r4", "allowlist"),
        ("http://ehr.example.org/fhir/r4", "https"),
        ("file:///etc/passwd", "scheme"),
        ("ftp://ehr.example.org/fhir/r4", "scheme"),
        ("gopher://ehr.example.org:70/_x", "scheme"),
        ("data:text/plain,hello", "scheme"),
        ("javascript:alert(1)", "scheme"),
        ("ehr.example.org/fhir/r4", "scheme"),
        ("https://user:pw@ehr.example.org/fhir/r4", "credentials"),
        ("https://ehr.example.org@evil.example.org/fhir/r4", "credentials"),
        ("https://169.254.169.254/latest/meta-data", "link-local"),
        ("https://[fe80::1]/fhir", "link-local"),
        ("https://[::ffff:169.254.169.254]/fhir", "link-local"),
        ("https://metadata.google.internal/computeMetadata/v1", "metadata"),
        ("https://127.0.0.1/fhir/r4", "loopback"),
        ("https://localhost/fhir/r4", "loopback"),
        ("https://[::1]/fhir/r4", "loopback"),
        ("https://2130706433/fhir", "numeric"),
        ("https://0x7f.1/fhir", "numeric"),
        ("https://0.0.0.0/fhir", "unicast"),
        ("https://ehr.example.org/fhir/r4/../../admin", "segments"),
        ("https://ehr.example.org/fhir/r4/%2e%2e/admin", "segments"),
        ("https://ehr.example.org/fhir/r4?x=1", "query"),
        ("https://ehr.example.org/fhir/r4#frag", "query"),
        ("https://ehr.example.org\\@evil.example.org/fhir/r4", "characters"),
        ("https://ehr.example.org/fhir/r4\n", "characters"),
        ("https://ehr.example.org:99999/fhir/r4", "port"),
        ("", "missing"),
    ],
)
def test_refused_in_production(url: str, why: str) -> None:
    with pytest.raises(OutboundError) as info:
        check_fhir_server(url, issuer=None, settings=PROD)
    assert why in info.value.message


def test_production_without_allowlist_refuses_everything() -> None:
    with pytest.raises(OutboundError, match="no FHIR server allowlist"):
        check_fhir_server("https://ehr.example.org/fhir/r4", issuer=None, settings=PROD_NO_LIST)


def test_issuer_list_replaces_the_global_list() -> None:
    assert (
        check_fhir_server(
            "https://fhir.ehr-a.example.org/api/FHIR/R4", issuer=ISSUER, settings=PROD
        )
        == "https://fhir.ehr-a.example.org/api/FHIR/R4"
    )
    # A server allowed globally is not allowed for a client that has its own list.
    with pytest.raises(OutboundError, match="allowlist"):
        check_fhir_server("https://ehr.example.org/fhir/r4", issuer=ISSUER, settings=PROD)


def test_issuer_without_own_list_uses_the_global_list() -> None:
    plain = TrustedIssuer("https://b", "https://b/jwks", (), ())
    assert check_fhir_server("https://ehr.example.org/fhir/r4", issuer=plain, settings=PROD)
    with pytest.raises(OutboundError):
        check_fhir_server("https://fhir.ehr-a.example.org/api/FHIR/R4", issuer=plain, settings=PROD)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8103/fhir",
        "http://localhost:8103/fhir",
        "http://[::1]:8103/fhir",
        "https://launch.smarthealthit.org/v/r4/fhir",
    ],
)
def test_dev_mode_allows_loopback_and_http_without_allowlist(url: str) -> None:
    assert check_fhir_server(url, issuer=None, settings=DEV) == url


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data",
        "file:///etc/passwd",
        "http://user:pw@127.0.0.1/fhir",
        "http://2130706433/fhir",
    ],
)
def test_dev_mode_still_refuses_the_dangerous_ones(url: str) -> None:
    with pytest.raises(OutboundError):
        check_fhir_server(url, issuer=None, settings=DEV)


def test_dev_mode_enforces_a_configured_allowlist_except_for_loopback() -> None:
    assert check_fhir_server("http://127.0.0.1:8103/fhir", issuer=None, settings=DEV_WITH_LIST)
    assert check_fhir_server(
        "https://ehr.example.org/fhir", issuer=None, settings=DEV_WITH_LIST
    ) == ("https://ehr.example.org/fhir")
    with pytest.raises(OutboundError, match="allowlist"):
        check_fhir_server("https://other.example.org/fhir", issuer=None, settings=DEV_WITH_LIST)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://ehr.example.org/fhir/r4/Observation?_offset=200", True),
        ("https://EHR.example.org:443/fhir/r4/Observation/1", True),
        ("https://ehr.example.org/fhir/r4", True),
        ("https://evil.example.org/fhir/r4/Observation", False),
        ("http://ehr.example.org/fhir/r4/Observation", False),
        ("https://ehr.example.org:8443/fhir/r4/Observation", False),
        ("https://ehr.example.org/fhir/r4-other/Observation", False),
        ("https://ehr.example.org/admin", False),
        ("https://ehr.example.org/fhir/r4/../../admin", False),
        ("https://u:p@ehr.example.org/fhir/r4/Observation", False),
        ("file:///fhir/r4/Observation", False),
        ("not a url", False),
    ],
)
def test_same_origin(url: str, expected: bool) -> None:
    assert same_origin(url, "https://ehr.example.org/fhir/r4/") is expected
