"""Where a failing check diverged, and fixes verified by re-running it."""
