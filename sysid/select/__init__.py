"""Model selection: candidate systems refitted and scored by their simulated error."""
