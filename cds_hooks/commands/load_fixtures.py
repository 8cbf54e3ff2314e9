"""`trial-cds load-fixtures --fhir-server URL [PATHS...]`: load patient Bundles into a FHIR server.

Each Bundle (collection, searchset, transaction or batch) becomes a transaction of
`PUT <type>/<id>` requests, so loading twice leaves the server as loading once did. Every
file is read and validated (FHIR R4B models from fhir.resources) before anything is sent:
bad input is reported with the file, the entry and the error, and nothing is loaded.

Exit codes: 0 loaded; 2 bad input (nothing sent); 1 the server failed or refused.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:
    # Imported where used: cli.py imports this module to build the parser for every command.
    import httpx

# The name of the variable holding the token, not a token.
TOKEN_ENV = "TRIAL_CDS_FHIR_TOKEN"  # noqa: S105
# Servers cap the entries of one transaction (Medplum: 50 updates); larger bundles go in
# several transactions. Each PUT is idempotent, so a rerun completes a partial load.
DEFAULT_MAX_ENTRIES = 50
CONCURRENT_BUNDLES = 4
FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
FHIR_JSON = "application/fhir+json"


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "load-fixtures",
        help="load fixture patients (FHIR Bundles) into a FHIR server",
        description="Load FHIR R4 Bundles into a FHIR server as idempotent transactions "
        "(PUT <type>/<id>). Every file is validated first; nothing is sent if one is bad. "
        "Exit 0 when loaded, 2 on bad input, 1 when the server fails.",
    )
    parser.add_argument("--fhir-server", required=True, metavar="URL", help="FHIR base URL")
    parser.add_argument(
        "--token",
        default=os.environ.get(TOKEN_ENV),
        help=f"Bearer token for the FHIR server (default: ${TOKEN_ENV}; never printed)",
    )
    parser.add_argument(
        "paths",
        nargs="*",
        type=Path,
        metavar="PATH",
        help="bundle files, or directories holding */bundle.json "
        "(default: the repository's fixtures/patients)",
    )
    parser.add_argument(
        "--timeout", type=float, default=30.0, help="seconds per request (default 30)"
    )
    parser.add_argument(
        "--max-entries",
        type=int,
        default=DEFAULT_MAX_ENTRIES,
        help=f"entries per transaction (default {DEFAULT_MAX_ENTRIES})",
    )
    parser.set_defaults(run=run)


class InputError(Exception):
    """Bad input; the message names the file (and entry) at fault."""


@dataclass
class PreparedBundle:
    path: Path
    transactions: list[dict[str, Any]]
    counts: Counter[str] = field(default_factory=Counter)

    @property
    def size(self) -> int:
        return sum(self.counts.values())


# --- finding and reading the input ---------------------------------------------------------


def default_fixture_dir() -> Path | None:
    """fixtures/patients of the source tree this package runs from, else of the cwd."""
    here = Path(__file__).resolve().parents[2] / "fixtures" / "patients"
    for candidate in (here, Path.cwd() / "fixtures" / "patients"):
        if candidate.is_dir():
            return candidate
    return None


def find_bundle_files(paths: Sequence[Path]) -> list[Path]:
    if not paths:
        default = default_fixture_dir()
        if default is None:
            raise InputError("no PATH given and no fixtures/patients directory found")
        paths = [default]
    files: list[Path] = []
    for path in paths:
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            found = [path / "bundle.json"] if (path / "bundle.json").is_file() else []
            found = found or sorted(path.glob("*/bundle.json"))
            if not found:
                raise InputError(f"{path}: no bundle.json or */bundle.json in this directory")
            files.extend(found)
        else:
            raise InputError(f"{path}: no such file or directory")
    return list(dict.fromkeys(files))


@cache
def _model_class(resource_type: str) -> Any:
    # Imported lazily: the R4B models take a while to import and only this command needs them.
    from fhir.resources.R4B import get_fhir_model_class
    from fhir.resources.R4B.resource import Resource

    try:
        model = get_fhir_model_class(resource_type)
    except ValueError:
        return None
    return model if issubclass(model, Resource) else None


def validation_problems(resource: dict[str, Any]) -> list[str]:
    """Why this resource is not valid FHIR (R4B models), or [] when it is."""
    from pydantic import ValidationError

    model = _model_class(str(resource.get("resourceType")))
    if model is None:
        return [f"unknown resourceType {resource.get('resourceType')!r}"]
    try:
        model.model_validate(resource)
    except ValidationError as exc:
        errors = exc.errors()
        shown = [
            f"{'.'.join(str(p) for p in e['loc']) or '(resource)'}: {e['msg']}" for e in errors
        ]
        more = f" (and {len(shown) - 5} more)" if len(shown) > 5 else ""
        return ["; ".join(shown[:5]) + more]
    return []


def _references(value: Any) -> Iterator[dict[str, Any]]:
    """Every object holding a `reference` string, anywhere in a resource."""
    if isinstance(value, dict):
        if isinstance(value.get("reference"), str):
            yield value
        for child in value.values():
            yield from _references(child)
    elif isinstance(value, list):
        for child in value:
            yield from _references(child)


def to_transactions(bundle: Any, where: str, max_entries: int) -> PreparedBundle:
    """A Bundle as PUT transactions of at most `max_entries` entries; InputError if bad."""
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise InputError(f"{where}: not a FHIR Bundle")
    entries = bundle.get("entry", [])
    if not isinstance(entries, list) or not entries:
        raise InputError(f"{where}: the Bundle has no entries")
    problems: list[str] = []
    resources: list[dict[str, Any]] = []
    keys_by_full_url: dict[str, str] = {}
    for i, entry in enumerate(entries):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
            problems.append(f"entry[{i}]: no resource with a resourceType")
            continue
        resource = json.loads(json.dumps(resource))  # our own copy: references get rewritten
        full_url = entry.get("fullUrl")
        if "id" not in resource and isinstance(full_url, str) and full_url.startswith("urn:uuid:"):
            # A stable id from the fullUrl keeps reloading idempotent.
            resource["id"] = full_url.removeprefix("urn:uuid:")
        rid = resource.get("id")
        if not isinstance(rid, str) or not FHIR_ID.fullmatch(rid):
            problems.append(
                f"entry[{i}] {resource['resourceType']}: id {rid!r} is missing or not a "
                "FHIR id (needed for an idempotent PUT)"
            )
            continue
        if isinstance(full_url, str):
            keys_by_full_url[full_url] = f"{resource['resourceType']}/{rid}"
        resources.append(resource)
    seen: set[str] = set()
    for resource in resources:
        key = f"{resource['resourceType']}/{resource['id']}"
        if key in seen:
            problems.append(f"{key} appears twice")
        seen.add(key)
        for holder in _references(resource):
            target = holder["reference"]
            if target in keys_by_full_url:
                holder["reference"] = keys_by_full_url[target]
            elif target.startswith(("urn:uuid:", "urn:oid:")):
                problems.append(f"{key}: reference {target} matches no entry's fullUrl")
        problems.extend(f"{key}: {p}" for p in validation_problems(resource))
    if problems:
        raise InputError("\n".join(f"{where}: {p}" for p in problems))
    prepared = PreparedBundle(path=Path(where), transactions=[])
    for start in range(0, len(resources), max_entries):
        chunk = resources[start : start + max_entries]
        prepared.transactions.append(
            {
                "resourceType": "Bundle",
                "type": "transaction",
                "entry": [
                    {
                        "resource": r,
                        "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"},
                    }
                    for r in chunk
                ],
            }
        )
    prepared.counts.update(r["resourceType"] for r in resources)
    return prepared


def prepare_all(files: Sequence[Path], max_entries: int) -> list[PreparedBundle]:
    """Read and check every file; one InputError listing every problem found."""
    prepared: list[PreparedBundle] = []
    problems: list[str] = []
    owner: dict[str, tuple[str, dict[str, Any]]] = {}
    for file in files:
        where = _display(file)
        try:
            bundle = json.loads(file.read_text(encoding="utf-8"))
            p = to_transactions(bundle, where, max_entries)
        except OSError as exc:
            problems.append(f"{where}: cannot read ({exc.strerror or exc})")
            continue
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            problems.append(f"{where}: not JSON ({exc})")
            continue
        except InputError as exc:
            problems.append(str(exc))
            continue
        # Two files writing different content to one id would silently clobber each other.
        for tx in p.transactions:
            for entry in tx["entry"]:
                key = entry["request"]["url"]
                first = owner.setdefault(key, (where, entry["resource"]))
                if first[0] != where and first[1] != entry["resource"]:
                    problems.append(f"{where}: {key} differs from the one in {first[0]}")
        prepared.append(p)
    if problems:
        raise InputError("\n".join(problems))
    return prepared


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _safe_url(url: str) -> str:
    """The URL without any user:password part, for messages."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


# --- sending -------------------------------------------------------------------------------


def _server_says(response: httpx.Response) -> str:
    """The first OperationOutcome issue text, if the server sent one."""
    try:
        body = response.json()
    except ValueError:
        return ""
    if not isinstance(body, dict) or body.get("resourceType") != "OperationOutcome":
        return ""
    for issue in body.get("issue") or []:
        text = issue.get("diagnostics") or (issue.get("details") or {}).get("text")
        if text:
            return f": {str(text)[:300]}"
    return ""


def _failed_entries(body: Any) -> list[str]:
    if not isinstance(body, dict) or body.get("type") != "transaction-response":
        return ["the answer is not a transaction-response Bundle"]
    failed = []
    for i, entry in enumerate(body.get("entry") or []):
        status = str((entry.get("response") or {}).get("status", ""))
        if not status.startswith("2"):
            failed.append(f"entry[{i}] status {status or '(none)'}")
    return failed


async def send_bundle(
    client: httpx.AsyncClient, base_url: str, prepared: PreparedBundle
) -> str | None:
    """Post the bundle's transactions in order; None on success, else what went wrong."""
    import httpx

    for n, transaction in enumerate(prepared.transactions, start=1):
        part = f" (transaction {n}/{len(prepared.transactions)})" if n > 1 else ""
        try:
            response = await client.post(
                base_url,
                content=json.dumps(transaction).encode(),
                headers={"Content-Type": FHIR_JSON},
            )
        except httpx.TimeoutException:
            return f"the FHIR server did not answer in time{part}"
        except httpx.HTTPError as exc:
            return f"cannot reach the FHIR server{part}: {type(exc).__name__} {exc}"
        if response.status_code in (401, 403):
            return f"the FHIR server refused the credentials ({response.status_code}){part}"
        if response.status_code >= 300:
            return f"the FHIR server answered {response.status_code}{part}{_server_says(response)}"
        try:
            failed = _failed_entries(response.json())
        except ValueError:
            failed = ["the answer is not JSON"]
        if failed:
            return f"the transaction failed{part}: {', '.join(failed[:5])}"
    return None


async def load_all(
    base_url: str, token: str | None, bundles: Sequence[PreparedBundle], request_timeout: float
) -> list[str | None]:
    import asyncio  # here, not at the top: every command's parser is built on each start

    import httpx

    headers = {"Accept": FHIR_JSON}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    gate = asyncio.Semaphore(CONCURRENT_BUNDLES)
    async with httpx.AsyncClient(headers=headers, timeout=request_timeout) as client:

        async def one(prepared: PreparedBundle) -> str | None:
            async with gate:
                return await send_bundle(client, base_url, prepared)

        return await asyncio.gather(*(one(b) for b in bundles))


# --- command -------------------------------------------------------------------------------


def _error(message: str) -> None:
    for line in message.splitlines():
        print(f"trial-cds load-fixtures: error: {line}", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    base_url = str(args.fhir_server).rstrip("/")
    if urlsplit(base_url).scheme not in ("http", "https") or not urlsplit(base_url).hostname:
        _error(f"--fhir-server must be an http(s) URL, got {_safe_url(base_url)!r}")
        return 2
    if args.max_entries < 1:
        _error("--max-entries must be at least 1")
        return 2
    if args.timeout <= 0:
        _error("--timeout must be positive")
        return 2
    try:
        bundles = prepare_all(find_bundle_files(args.paths), args.max_entries)
    except InputError as exc:
        _error(str(exc))
        _error("nothing was loaded")
        return 2
    import asyncio

    outcomes = asyncio.run(load_all(base_url, args.token, bundles, args.timeout))
    failures = 0
    for prepared, problem in zip(bundles, outcomes, strict=True):
        kinds = ", ".join(f"{n} {kind}" for kind, n in prepared.counts.items())
        if problem is None:
            print(f"loaded {prepared.path}: {prepared.size} resources ({kinds})")
        else:
            failures += 1
            _error(f"{prepared.path}: {problem}")
    total = sum(b.size for b, p in zip(bundles, outcomes, strict=True) if p is None)
    print(
        f"{len(bundles) - failures} of {len(bundles)} bundles ({total} resources) loaded into "
        f"{_safe_url(base_url)}"
    )
    return 1 if failures else 0
