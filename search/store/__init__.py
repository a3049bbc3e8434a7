"""What a results directory holds: rows, Parquet files, journal, lock, checkpoints."""
