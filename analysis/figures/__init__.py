"""Figures: pure plotting functions on a keyword-only ax, and the figures of a study."""
