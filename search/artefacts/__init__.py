"""Files a trained network leaves: the numpy network file, NIR, usage plots."""
