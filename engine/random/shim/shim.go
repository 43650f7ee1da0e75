// Package shim is this project's own bridge into the upstream random provider: Go forbids
// importing its `internal` packages from another module, so `make engine` places this file
// inside the upstream module's folder (in the engine cache, never in this repository).
package shim

import (
	"github.com/hashicorp/terraform-plugin-framework/provider"
	upstream "github.com/terraform-providers/terraform-provider-random/internal/provider"
)

// PFProvider is the upstream plugin-framework provider.
func PFProvider() provider.Provider {
	return upstream.New()
}
