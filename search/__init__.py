"""Search: config, Ray Tune + Optuna search, trials, Parquet results and the CLI."""
