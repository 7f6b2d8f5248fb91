target "api" {
  context    = "."
  dockerfile = "images/api/Containerfile"
  tags       = ["ghcr.io/acme/api:latest"]
}
