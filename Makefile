# The two commands a newcomer needs; everything else is in scripts/.
.PHONY: run test bench

run:   ## serve the API on the embedded default (SQLite file, in-process cache)
	./scripts/run

test:  ## lint, types, layer contracts and the whole pytest suite (needs PostgreSQL and redis-server)
	./scripts/test

bench: ## the capacity benchmark on the local PostgreSQL and Redis (see benchmarks/README.md)
	./scripts/bootstrap && .venv/bin/python -m benchmarks.run
