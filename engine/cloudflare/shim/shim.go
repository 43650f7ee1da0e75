// Package shim is this project's own bridge into the upstream Terraform provider: Go forbids
// importing its `internal` package from another module, so `make engine` places this file
// inside the upstream module's folder (in the engine cache, never in this repository).
package shim

import (
	"github.com/cloudflare/terraform-provider-cloudflare/internal"
	"github.com/hashicorp/terraform-plugin-framework/provider"
)

// PFProvider is the upstream plugin-framework provider, reporting the Pulumi package version.
func PFProvider() provider.Provider {
	return internal.NewProvider("6.23.1")()
}
