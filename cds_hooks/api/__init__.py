"""HTTP layer: routes, wire-format validation, errors."""
