terraform {
  required_providers {
    hcloud = {
      source  = "hetznercloud/hcloud"
      version = "~> 1.48"
    }
  }
}

resource "hcloud_server" "app" {
  name        = "acme-app"
  server_type = "cx22"
  image       = "debian-12"
}
