"""Rule evaluators, one module per family, registered by rule type.

- demographics: age_range, sex
- conditions: diagnosis, condition, histology, distinct_count, oligometastases
- observations: lab_threshold, lab_uln_multiple, ordinal_grade, coded_value,
  ordered_category, measurable_disease, msi_mmr
- derived: cockcroft_gault, derived_product
- reports: report_number
- history: no_active_medication, medication_history, procedure_history, allergy
- attestations: attestation, pregnancy_contraception, study_team
- logic: all_of, any_of, not, first_decided, when

Parameters are the typed models of `cds_hooks.trials.params`; display strings come from
the definition.
"""

from cds_hooks.eligibility.rules import (  # noqa: F401 - imported to register evaluators
    attestations,
    conditions,
    demographics,
    derived,
    history,
    logic,
    observations,
    reports,
)
from cds_hooks.eligibility.rules.base import Outcome
from cds_hooks.eligibility.rules.registry import EVALUATORS, Evaluator, evaluate

__all__ = ["EVALUATORS", "Evaluator", "Outcome", "evaluate"]
