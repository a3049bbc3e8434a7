"""Pareto analysis, hypervolume, plots and reports on Parquet results (no torch, no ray)."""
