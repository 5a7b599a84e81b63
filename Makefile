# The two commands of the README. Each does its own set-up on a fresh machine.
.PHONY: demo test lint bootstrap stack-down

bootstrap:
	@bash compose/local/bootstrap.sh

## Main job end to end: stack up -> topics -> Online Retail replay -> topic counts.
demo: bootstrap
	.venv/bin/paystream demo

## Quality gates, unit tests, then integration tests against the real local stack.
test: bootstrap lint
	.venv/bin/python -m pytest tests/unit tests/integration

lint: bootstrap
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy paystream ingest streams risk lakehouse ml api compose harness chaos cli bench scripts
	.venv/bin/lint-imports
	bash compose/k8s/validate.sh

stack-down: bootstrap
	.venv/bin/paystream stack down
