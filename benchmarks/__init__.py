"""odibi_otel's benchmark suite: instrumentation overhead and scale, measured side by side.

Run it with ``python benchmarks/run.py`` (see ``benchmarks/README.md``). These are scripts, not
tests: nothing here asserts a timing.
"""
