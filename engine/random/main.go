// pulumi-resource-random: the random resource plugin, bridged from the upstream Terraform
// provider with Pulumi's terraform bridge, for the generated keys (`random.RandomBytes`) of
// VersionedSecret. Written for this project because the pulumi-random provider module is
// not served by the module proxy here. Tokens are those of the pinned `pulumi_random`
// Python package: each TF name whole (`random_bytes` is `random:index/randomBytes:RandomBytes`).
package main

import (
	"context"
	"encoding/json"

	pftfbridge "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfbridge"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge/tokens"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"

	"github.com/terraform-providers/terraform-provider-random/shim"
)

// version is the pulumi_random Python package this plugin stands for.
var version = "4.21.4"

func provider() tfbridge.ProviderInfo {
	info := tfbridge.ProviderInfo{
		P:            pftfbridge.ShimProvider(shim.PFProvider()),
		Name:         "random",
		Version:      version,
		MetadataInfo: tfbridge.NewProviderMetadata([]byte("{}")),
		Resources:    map[string]*tfbridge.ResourceInfo{},
	}
	info.MustComputeTokens(tokens.SingleModule("", "index", tokens.MakeStandard("random")))
	return info
}

func main() {
	schema, _ := json.Marshal(map[string]string{"name": "random", "version": version})
	pftfbridge.Main(context.Background(), "random", provider(), pftfbridge.ProviderMetadata{
		// Only code generators read the package schema; the Python SDK carries the full one.
		XGetSchema: func(context.Context, plugin.GetSchemaRequest) ([]byte, error) { return schema, nil },
	})
}
