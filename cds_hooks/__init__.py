"""trial-cds-hooks: a CDS Hooks 2.0 service that screens patients for clinical trials."""

__version__ = "0.1.0"
