# The commands a newcomer needs; everything else is in scripts/.
.PHONY: run check test-fast test bench

run:       ## serve the API on the embedded default (SQLite file, in-process cache)
	./scripts/run

check:     ## lint, format, mypy --strict, layer contracts, compose schema: seconds, no server
	./scripts/check

test-fast: ## the tests that need no PostgreSQL, Redis or poppler (pytest -m fast): about 30 s
	./scripts/test-fast

test:      ## check, then the whole pytest suite (needs PostgreSQL, redis-server and poppler-utils)
	./scripts/test

bench:     ## the capacity benchmark on the local PostgreSQL and Redis (see benchmarks/README.md)
	./scripts/bootstrap && .venv/bin/python -m benchmarks.run
