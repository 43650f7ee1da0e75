// pulumi-resource-cloudflare: the Cloudflare resource plugin, bridged from the upstream
// Terraform provider with Pulumi's terraform bridge. Written for this project because the
// pulumi-cloudflare provider module is not served by the module proxy here: the mapping is
// the one pulumi-cloudflare computes (one `index` module, standard tokens, the API
// credentials marked secret), so resource types and property names match the pinned
// `pulumi_cloudflare` Python package. The tests check that agreement (tests/test_engine_*).
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"

	rprovider "github.com/pulumi/pulumi/pkg/v3/resource/provider"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"

	pftfbridge "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfbridge"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge/tokens"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"

	"github.com/cloudflare/terraform-provider-cloudflare/shim"
)

// version is the pulumi_cloudflare Python package this plugin stands for (set by -ldflags).
var version = "6.23.1"

func provider() tfbridge.ProviderInfo {
	info := tfbridge.ProviderInfo{
		P:            pftfbridge.ShimProvider(shim.PFProvider()),
		Name:         "cloudflare",
		DisplayName:  "Cloudflare",
		Version:      version,
		MetadataInfo: tfbridge.NewProviderMetadata([]byte("{}")),
		// Credentials never reach state or the engine's output in plaintext.
		Config: map[string]*tfbridge.SchemaInfo{
			"api_token":            {Secret: tfbridge.True()},
			"api_key":              {Secret: tfbridge.True()},
			"api_user_service_key": {Secret: tfbridge.True()},
		},
		Resources: map[string]*tfbridge.ResourceInfo{},
	}
	info.MustComputeTokens(tokens.SingleModule("cloudflare_", "index", tokens.MakeStandard("cloudflare")))
	return info
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-version" {
		fmt.Println(version)
		return
	}
	ctx := context.Background()
	schema, _ := json.Marshal(map[string]string{"name": "cloudflare", "version": version})
	meta := pftfbridge.ProviderMetadata{
		// The package schema is only read by code generators, never by `pulumi up`; the
		// Python SDK of the same version carries the full one.
		XGetSchema: func(context.Context, plugin.GetSchemaRequest) ([]byte, error) { return schema, nil },
	}
	// WorkersScript's `files` (files.go): the upload gains them at the HTTP layer.
	http.DefaultTransport = addFiles{base: http.DefaultTransport}
	err := rprovider.Main("cloudflare", func(host *rprovider.HostClient) (pulumirpc.ResourceProviderServer, error) {
		bridged, err := pftfbridge.NewProviderServer(ctx, host, provider(), meta)
		if err != nil {
			return nil, err
		}
		return withFiles{bridged}, nil
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
