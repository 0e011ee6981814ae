"""Gates over check results: baselines that ratchet, golden outputs from real Core ML, and the
hashes that say whether a stored baseline or golden still describes the same model and inputs."""
