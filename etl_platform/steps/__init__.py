"""One unit of work each, as a plain function: what an asset runs, testable without Dagster."""
