"""devops-agent: the runtime that makes a role charter executable."""
