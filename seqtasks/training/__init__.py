"""Training: `model.fit` with callbacks, schedules, distribution and regularizers."""
