// The Cloudflare resource plugin: main.go of this project over the upstream Terraform
// provider (at a pseudo-version the module proxy serves, 5.24.0 of 2026-08-20) and Pulumi's
// terraform bridge. `make engine` copies the upstream module into ./upstream of the build
// folder and adds shim/shim.go there (see that file for why).
module secrets-store.local/engine/cloudflare

go 1.26.6

require (
	github.com/cloudflare/terraform-provider-cloudflare v0.0.0-20260824180050-4f360d592a7d
	github.com/pulumi/pulumi-terraform-bridge/v3 v3.137.0
)

replace github.com/cloudflare/terraform-provider-cloudflare => ./upstream

replace github.com/hashicorp/terraform-plugin-sdk/v2 => github.com/pulumi/terraform-plugin-sdk/v2 v2.0.0-20260318212141-5525259d096b
