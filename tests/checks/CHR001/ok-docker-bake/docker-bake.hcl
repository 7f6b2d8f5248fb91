variable "TAG" {
  default = "dev"
}

group "default" {
  targets = ["web"]
}

target "web" {
  context    = "web"
  dockerfile = "Dockerfile"
  tags       = ["ghcr.io/acme/web:${TAG}"]
  platforms  = ["linux/amd64", "linux/arm64"]
}
