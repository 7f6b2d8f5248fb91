"""The eval scenarios (data): evals/scenarios/<slug>/scenario.yaml, run by `devops-agent eval run`."""
