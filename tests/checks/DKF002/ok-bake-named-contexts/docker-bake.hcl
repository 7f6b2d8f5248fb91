target "base" {
  context = "base/"
}

target "assets" {
  context = "admin/"
  dockerfile = "assets.Dockerfile"
}

target "admin" {
  context = "admin/"
  contexts = {
    base = "target:base"
    assets = "target:assets"
  }
  tags = ["ghcr.io/acme/admin:1.0.0"]
}
