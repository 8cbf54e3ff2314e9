"""FHIR R4 in, typed clinical facts out. Knows nothing of CDS Hooks or trials."""
