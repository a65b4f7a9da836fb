"""When things run: automation conditions, sensors, jobs and schedules, built from the specs."""
