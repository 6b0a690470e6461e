"""arq and dramatiq running the suite's workload, each written as its own docs suggest."""
