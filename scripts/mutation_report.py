"""Per-module mutation scores from mutmut's result files (mutants/**/*.py.meta).

`--globs` prints one mutant-name glob per deciding module (pyproject's [tool.mutmut]
only_mutate); otherwise the table for the modules matching the given globs is printed and the
exit status is 1 when one of them scores below --min-score.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import re
import sys
import tomllib
from pathlib import Path

from mutmut.stats import status_by_exit_code

ROOT = Path(__file__).resolve().parents[1]
SURVIVORS_FILE = ROOT / "tests" / "mutation-survivors.md"
CAUGHT = {"killed", "timeout", "caught by type check"}
NOT_RUN = {"not checked", "skipped", "check was interrupted by user"}


def deciding_modules() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mutmut"]
    modules: list[str] = []
    for pattern in config["only_mutate"]:
        for path in sorted(ROOT.glob(pattern)):
            if path.name != "__init__.py":
                modules.append(".".join(path.relative_to(ROOT).with_suffix("").parts))
    return modules


def module_of(mutant: str) -> str:
    # cds_hooks.eligibility.values.x_compare__mutmut_7, fhir_mappings.units.xǁCǁm__mutmut_1
    return re.split(r"\.x[_ǁ]", mutant, maxsplit=1)[0]


def load_results() -> dict[str, str]:
    statuses: dict[str, str] = {}
    for meta in (ROOT / "mutants").rglob("*.py.meta"):
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        for mutant, code in codes.items():
            statuses[mutant] = status_by_exit_code[code]
    return statuses


def explained_survivors() -> set[str]:
    """Mutant names in backticks at the start of a list item of the survivors file."""
    if not SURVIVORS_FILE.exists():
        return set()
    return set(re.findall(r"^\s*[-*] `([^`]+__mutmut_\d+)`", SURVIVORS_FILE.read_text(), re.M))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("globs", nargs="*")
    parser.add_argument("--globs", dest="list_globs", action="store_true")
    parser.add_argument("--min-score", type=float, default=90.0)
    args = parser.parse_args()
    if args.list_globs:
        print("\n".join(f"{module}.*" for module in deciding_modules()))
        return 0
    globs = args.globs or [f"{module}.*" for module in deciding_modules()]
    selected = {
        name: status
        for name, status in load_results().items()
        if any(fnmatch.fnmatch(name, g) for g in globs)
    }
    statuses = {name: status for name, status in selected.items() if status not in NOT_RUN}
    not_run: dict[str, int] = {}
    for name, status in selected.items():
        if status in NOT_RUN:
            not_run[module_of(name)] = not_run.get(module_of(name), 0) + 1
    explained = explained_survivors()
    by_module: dict[str, list[tuple[str, str]]] = {}
    for name, status in sorted(statuses.items()):
        by_module.setdefault(module_of(name), []).append((name, status))

    failing = []
    print(
        f"{'module':<44} {'mutants':>7} {'killed':>7} {'survived':>8} {'score':>7} {'not run':>8}"
    )
    total = caught_total = 0
    for module, results in sorted(by_module.items()):
        caught = sum(status in CAUGHT for _, status in results)
        score = 100.0 * caught / len(results)
        total += len(results)
        caught_total += caught
        # A run cut short leaves mutants unchecked; its score is of the checked ones only.
        pending = not_run.get(module, 0)
        flag = "" if score >= args.min_score and not pending else "  < " + f"{args.min_score:g} %"
        if pending and score >= args.min_score:
            flag = "  (incomplete)"
        print(
            f"{module:<44} {len(results):>7} {caught:>7} {len(results) - caught:>8} "
            f"{score:>6.1f}% {pending:>8}{flag}"
        )
        if score < args.min_score or pending:
            failing.append(module)
    if total:
        print(
            f"{'all':<44} {total:>7} {caught_total:>7} {total - caught_total:>8} "
            f"{100.0 * caught_total / total:>6.1f}%"
        )
    print()
    print("Surviving mutants (`.venv/bin/mutmut show NAME` for the diff):")
    for results in by_module.values():
        for name, status in results:
            if status not in CAUGHT:
                note = "equivalent, see tests/mutation-survivors.md" if name in explained else ""
                print(f"  {name}: {status}" + (f" ({note})" if note else ""))
    if failing:
        print(f"\nBelow {args.min_score:g} % or incomplete: {', '.join(failing)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
