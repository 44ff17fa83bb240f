"""The propensity benchmark: training and scoring on a million people."""
