"""Read models rebuilt from the log (per-model ASL state). Never the source of truth."""
