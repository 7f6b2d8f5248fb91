"""What the role does: compose, Dockerfile, CI, nginx views and the checks over them."""
