"""Data, LIF network, DeepR rewiring and training (torch + tonic)."""
