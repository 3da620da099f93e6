// Package registrytest pushes images to a registry a test serves on loopback
// (github.com/google/go-containerregistry/pkg/registry), for tests of pulls.
package registrytest

import (
	"bytes"
	"io"
	"net/http"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Push uploads img to the registry at base with the plain distribution
// API (go-containerregistry's remote package would pull docker/cli in).
func Push(t testing.TB, base, repo, tag string, img v1.Image) {
	t.Helper()
	upload := func(digest v1.Hash, body io.Reader) {
		resp, err := http.Post(base+"/v2/"+repo+"/blobs/uploads/", "", nil)
		if err != nil {
			t.Fatalf("start upload: %v", err)
		}
		resp.Body.Close()
		loc, err := resp.Location()
		if err != nil || resp.StatusCode != http.StatusAccepted {
			t.Fatalf("start upload: %s %v", resp.Status, err)
		}
		q := loc.Query()
		q.Set("digest", digest.String())
		loc.RawQuery = q.Encode()
		req, _ := http.NewRequest(http.MethodPut, loc.String(), body)
		resp, err = http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != http.StatusCreated {
			t.Fatalf("upload blob %s: %v %v", digest, resp, err)
		}
		resp.Body.Close()
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range layers {
		d, _ := l.Digest()
		rc, err := l.Compressed()
		if err != nil {
			t.Fatal(err)
		}
		upload(d, rc)
		rc.Close()
	}
	cfgName, _ := img.ConfigName()
	cfg, _ := img.RawConfigFile()
	upload(cfgName, bytes.NewReader(cfg))
	manifest, _ := img.RawManifest()
	mt, _ := img.MediaType()
	req, _ := http.NewRequest(http.MethodPut, base+"/v2/"+repo+"/manifests/"+tag, bytes.NewReader(manifest))
	req.Header.Set("Content-Type", string(mt))
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("put manifest: %v %v", resp, err)
	}
	resp.Body.Close()
}
