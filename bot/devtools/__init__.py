"""Developer tools: the playground and the process helpers the benchmark and tests share."""
