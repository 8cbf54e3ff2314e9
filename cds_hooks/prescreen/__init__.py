"""Population pre-screen: a Bulk FHIR (`$export`) NDJSON export → worklists and attrition.

The pipeline runs on Dask (`pipeline.run_prescreen`): every export file is read by one task
that hash-partitions its lines by patient into spill files on disk (`partition`), then one
task per partition groups its patients, builds each record and screens it with the same
`build_record` and `Engine` as the hook and `trial-cds screen` (`screening`), and the
client writes the worklist, attrition table, charts and summary (`outputs`).
"""
