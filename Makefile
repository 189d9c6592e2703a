.PHONY: run test bench
run:
	scripts/run
test:
	scripts/test
bench:
	scripts/bootstrap bench
	.venv/bin/python -m bench.run $(ARGS)
