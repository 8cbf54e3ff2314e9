"""Trial definitions: validated JSON data, one file per trial."""

from cds_hooks.trials.loader import TrialDefinitionError, load_trials
from cds_hooks.trials.model import CriterionDefinition, TrialDefinition

__all__ = ["CriterionDefinition", "TrialDefinition", "TrialDefinitionError", "load_trials"]
