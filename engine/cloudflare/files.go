package main

// `files` of WorkersScript: the modules a Worker's main module imports, uploaded with it.
//
// pulumi_cloudflare 6.23.1 declares `files` (a map from a module's import path to
// {content_type, content_base64, content_file, content_sha256}); the upstream Terraform
// provider the module proxy serves here (5.24.0) predates it. So this plugin carries the
// property itself, around the bridged provider:
//
//   - at the Pulumi RPC layer, `files` is taken out of every WorkersScript request before
//     the bridge sees it and put back into what the bridge answers (inputs and state), and a
//     change of `files` alone is a diff (an update in place, as a content change is);
//   - at the HTTP layer, the upload of that script (PUT .../workers/scripts/<name>,
//     multipart/form-data) gets one part per file, named by its import path, beside the
//     main module's part, as Cloudflare's multipart upload takes modules.
//
// Everything else passes through untouched.

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"regexp"
	"sort"
	"sync"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"
)

const scriptType = "cloudflare:index/workersScript:WorkersScript"

var uploadPath = regexp.MustCompile(`/accounts/([^/]+)/workers/scripts/([^/]+)$`)

type module struct {
	path        string
	contentType string
	content     []byte
}

// pendingUploads holds, per account and script, the files of the Create or Update running now.
type pendingUploads struct {
	mu      sync.Mutex
	modules map[string][]module
}

var uploads = &pendingUploads{modules: map[string][]module{}}

func uploadKey(account, script string) string { return account + "/" + script }

func (p *pendingUploads) set(key string, modules []module) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.modules[key] = modules
}

func (p *pendingUploads) take(key string) ([]module, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	modules, ok := p.modules[key]
	return modules, ok
}

func (p *pendingUploads) done(key string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.modules, key)
}

// addFiles is the HTTP transport of every Cloudflare API call (the upstream client uses
// http.DefaultClient): it adds the pending files to a script upload.
type addFiles struct{ base http.RoundTripper }

func (t addFiles) RoundTrip(req *http.Request) (*http.Response, error) {
	match := uploadPath.FindStringSubmatch(req.URL.Path)
	if req.Method != http.MethodPut || match == nil || req.Body == nil {
		return t.base.RoundTrip(req)
	}
	modules, ok := uploads.take(uploadKey(match[1], match[2]))
	if !ok || len(modules) == 0 {
		return t.base.RoundTrip(req)
	}
	mediaType, params, err := mime.ParseMediaType(req.Header.Get("Content-Type"))
	if err != nil || mediaType != "multipart/form-data" {
		return t.base.RoundTrip(req)
	}
	body, err := rewrite(req.Body, params["boundary"], modules)
	if err != nil {
		return nil, fmt.Errorf("adding the Worker's files to its upload: %w", err)
	}
	out := req.Clone(req.Context())
	out.Body = io.NopCloser(bytes.NewReader(body.data))
	out.ContentLength = int64(len(body.data))
	out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body.data)), nil }
	out.Header.Set("Content-Type", body.contentType)
	return t.base.RoundTrip(out)
}

type form struct {
	data        []byte
	contentType string
}

func rewrite(in io.ReadCloser, boundary string, modules []module) (form, error) {
	defer in.Close()
	reader := multipart.NewReader(in, boundary)
	var buf bytes.Buffer
	writer := multipart.NewWriter(&buf)
	for {
		part, err := reader.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return form{}, err
		}
		header := textproto.MIMEHeader{}
		for k, v := range part.Header {
			header[k] = v
		}
		w, err := writer.CreatePart(header)
		if err != nil {
			return form{}, err
		}
		if _, err := io.Copy(w, part); err != nil {
			return form{}, err
		}
	}
	for _, m := range modules {
		header := textproto.MIMEHeader{}
		header.Set("Content-Disposition", fmt.Sprintf(`form-data; name=%q; filename=%q`, m.path, m.path))
		header.Set("Content-Type", m.contentType)
		w, err := writer.CreatePart(header)
		if err != nil {
			return form{}, err
		}
		if _, err := w.Write(m.content); err != nil {
			return form{}, err
		}
	}
	if err := writer.Close(); err != nil {
		return form{}, err
	}
	return form{buf.Bytes(), writer.FormDataContentType()}, nil
}

// withFiles serves the bridged provider, carrying `files` of WorkersScript around it.
type withFiles struct {
	pulumirpc.ResourceProviderServer
}

func isScript(urn string) bool {
	parsed, err := resource.ParseURN(urn)
	return err == nil && string(parsed.Type()) == scriptType
}

// split returns a copy of props without `files`, and the files value (nil when absent).
func split(props *structpb.Struct) (*structpb.Struct, *structpb.Value) {
	if props == nil {
		return nil, nil
	}
	files, ok := props.Fields["files"]
	if !ok {
		return props, nil
	}
	rest := proto.Clone(props).(*structpb.Struct)
	delete(rest.Fields, "files")
	return rest, files
}

func join(props *structpb.Struct, files *structpb.Value) *structpb.Struct {
	if props == nil || files == nil {
		return props
	}
	props.Fields["files"] = files
	return props
}

func (s withFiles) Check(ctx context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	if !isScript(req.GetUrn()) {
		return s.ResourceProviderServer.Check(ctx, req)
	}
	news, files := split(req.GetNews())
	olds, _ := split(req.GetOlds())
	forward := proto.Clone(req).(*pulumirpc.CheckRequest)
	forward.News, forward.Olds = news, olds
	resp, err := s.ResourceProviderServer.Check(ctx, forward)
	if err != nil {
		return resp, err
	}
	resp.Inputs = join(resp.GetInputs(), files)
	return resp, nil
}

func (s withFiles) Diff(ctx context.Context, req *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	if !isScript(req.GetUrn()) {
		return s.ResourceProviderServer.Diff(ctx, req)
	}
	olds, oldFiles := split(req.GetOlds())
	news, newFiles := split(req.GetNews())
	oldInputs, _ := split(req.GetOldInputs())
	forward := proto.Clone(req).(*pulumirpc.DiffRequest)
	forward.Olds, forward.News, forward.OldInputs = olds, news, oldInputs
	resp, err := s.ResourceProviderServer.Diff(ctx, forward)
	if err != nil {
		return resp, err
	}
	if !sameFiles(oldFiles, newFiles) {
		resp.Changes = pulumirpc.DiffResponse_DIFF_SOME
		resp.Diffs = append(resp.Diffs, "files")
		if resp.DetailedDiff == nil {
			resp.DetailedDiff = map[string]*pulumirpc.PropertyDiff{}
		}
		kind := pulumirpc.PropertyDiff_UPDATE
		if oldFiles == nil {
			kind = pulumirpc.PropertyDiff_ADD
		} else if newFiles == nil {
			kind = pulumirpc.PropertyDiff_DELETE
		}
		resp.DetailedDiff["files"] = &pulumirpc.PropertyDiff{Kind: kind, InputDiff: true}
		resp.HasDetailedDiff = true
	}
	return resp, nil
}

func sameFiles(a, b *structpb.Value) bool {
	empty := func(v *structpb.Value) bool {
		if v == nil {
			return true
		}
		if _, isNull := v.GetKind().(*structpb.Value_NullValue); isNull {
			return true
		}
		s := v.GetStructValue()
		return s != nil && len(s.GetFields()) == 0
	}
	if empty(a) && empty(b) {
		return true
	}
	return proto.Equal(a, b)
}

func (s withFiles) Create(ctx context.Context, req *pulumirpc.CreateRequest) (*pulumirpc.CreateResponse, error) {
	if !isScript(req.GetUrn()) {
		return s.ResourceProviderServer.Create(ctx, req)
	}
	props, files := split(req.GetProperties())
	forward := proto.Clone(req).(*pulumirpc.CreateRequest)
	forward.Properties = props
	key, err := stage(props, files, req.GetPreview())
	if err != nil {
		return nil, err
	}
	defer uploads.done(key)
	resp, err := s.ResourceProviderServer.Create(ctx, forward)
	if err != nil {
		return resp, err
	}
	resp.Properties = join(resp.GetProperties(), files)
	return resp, nil
}

func (s withFiles) Update(ctx context.Context, req *pulumirpc.UpdateRequest) (*pulumirpc.UpdateResponse, error) {
	if !isScript(req.GetUrn()) {
		return s.ResourceProviderServer.Update(ctx, req)
	}
	news, files := split(req.GetNews())
	olds, _ := split(req.GetOlds())
	oldInputs, _ := split(req.GetOldInputs())
	forward := proto.Clone(req).(*pulumirpc.UpdateRequest)
	forward.News, forward.Olds, forward.OldInputs = news, olds, oldInputs
	key, err := stage(news, files, req.GetPreview())
	if err != nil {
		return nil, err
	}
	defer uploads.done(key)
	resp, err := s.ResourceProviderServer.Update(ctx, forward)
	if err != nil {
		return resp, err
	}
	resp.Properties = join(resp.GetProperties(), files)
	return resp, nil
}

func (s withFiles) Read(ctx context.Context, req *pulumirpc.ReadRequest) (*pulumirpc.ReadResponse, error) {
	if !isScript(req.GetUrn()) {
		return s.ResourceProviderServer.Read(ctx, req)
	}
	props, stateFiles := split(req.GetProperties())
	inputs, inputFiles := split(req.GetInputs())
	forward := proto.Clone(req).(*pulumirpc.ReadRequest)
	forward.Properties, forward.Inputs = props, inputs
	resp, err := s.ResourceProviderServer.Read(ctx, forward)
	if err != nil || resp.GetProperties() == nil {
		return resp, err
	}
	// Cloudflare gives back no module but the main one: the files are as last uploaded.
	resp.Properties = join(resp.GetProperties(), stateFiles)
	resp.Inputs = join(resp.GetInputs(), inputFiles)
	return resp, nil
}

func (s withFiles) Delete(ctx context.Context, req *pulumirpc.DeleteRequest) (*emptypb.Empty, error) {
	if !isScript(req.GetUrn()) {
		return s.ResourceProviderServer.Delete(ctx, req)
	}
	props, _ := split(req.GetProperties())
	oldInputs, _ := split(req.GetOldInputs())
	forward := proto.Clone(req).(*pulumirpc.DeleteRequest)
	forward.Properties, forward.OldInputs = props, oldInputs
	return s.ResourceProviderServer.Delete(ctx, forward)
}

// stage records the files of the script about to be uploaded; the key says which upload.
func stage(props *structpb.Struct, files *structpb.Value, preview bool) (string, error) {
	account := props.GetFields()["accountId"].GetStringValue()
	script := props.GetFields()["scriptName"].GetStringValue()
	key := uploadKey(account, script)
	if preview || files == nil {
		return key, nil
	}
	modules, err := decode(files)
	if err != nil {
		return key, fmt.Errorf("WorkersScript %s: files: %w", script, err)
	}
	uploads.set(key, modules)
	return key, nil
}

func decode(files *structpb.Value) ([]module, error) {
	entries := files.GetStructValue().GetFields()
	paths := make([]string, 0, len(entries))
	for path := range entries {
		paths = append(paths, path)
	}
	sort.Strings(paths)
	modules := make([]module, 0, len(paths))
	for _, path := range paths {
		fields := unwrapSecret(entries[path]).GetStructValue().GetFields()
		contentType := unwrapSecret(fields["contentType"]).GetStringValue()
		if contentType == "" {
			return nil, fmt.Errorf("%s: contentType is required", path)
		}
		var content []byte
		switch {
		case unwrapSecret(fields["contentBase64"]).GetStringValue() != "":
			data, err := base64.StdEncoding.DecodeString(unwrapSecret(fields["contentBase64"]).GetStringValue())
			if err != nil {
				return nil, fmt.Errorf("%s: contentBase64 is not base64", path)
			}
			content = data
		case unwrapSecret(fields["contentFile"]).GetStringValue() != "":
			data, err := os.ReadFile(unwrapSecret(fields["contentFile"]).GetStringValue())
			if err != nil {
				return nil, fmt.Errorf("%s: contentFile: %w", path, err)
			}
			content = data
		default:
			return nil, fmt.Errorf("%s: one of contentBase64 or contentFile is required", path)
		}
		modules = append(modules, module{path: path, contentType: contentType, content: content})
	}
	return modules, nil
}

// unwrapSecret returns the value inside Pulumi's secret wrapper object, or v itself.
func unwrapSecret(v *structpb.Value) *structpb.Value {
	s := v.GetStructValue()
	if s == nil {
		return v
	}
	if sig, ok := s.GetFields()["4dabf18193072939515e22adb298388d"]; ok &&
		sig.GetStringValue() == "1b47061264138c4ac30d75fd1eb44270" {
		return s.GetFields()["value"]
	}
	return v
}
