"""Benchmarks of creditgw. Each prints ratios against a baseline measured in the same run (the
machine is shared and noisy: absolute figures from another run compare nothing), bounds its own run
time, and stops every process it started. See bench/README.md.

- `python -m bench.ingest`: durable ingest of POST /v1/repairs against a bare aiohttp handler.
- `python -m bench.end_to_end`: simulators + `creditgw serve`, accept→delivered to both systems.
"""
