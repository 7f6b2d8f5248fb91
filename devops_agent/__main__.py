"""`python -m devops_agent`: the same as the `devops-agent` command."""
from devops_agent import main

main()
