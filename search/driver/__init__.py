"""The search driver: Ray Tune + Optuna, the proxy gate, one trial, its worker."""
