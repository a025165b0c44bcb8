package main

import (
	"context"
	"fmt"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Push uploads the index in the layout at dir to ref as it is: the blobs
// are copied byte for byte, so the pushed index has the digest the build
// printed. Credentials come from the default keychain (docker login,
// credential helpers).
func Push(ctx context.Context, dir, ref string, opts ...remote.Option) (v1.Hash, error) {
	tag, err := name.NewTag(ref, name.StrictValidation)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("push target %q: %w (write registry/repository:tag)", ref, err)
	}
	root, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("layout %s: %w (build it with make image)", dir, err)
	}
	top, err := root.IndexManifest()
	if err != nil {
		return v1.Hash{}, fmt.Errorf("layout %s: %w", dir, err)
	}
	entry, err := namedIndex(dir, top)
	if err != nil {
		return v1.Hash{}, err
	}
	d := entry.Digest
	idx, err := root.ImageIndex(d)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("layout %s: index %s: %w", dir, d, err)
	}
	opts = append([]remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)}, opts...)
	if err := remote.WriteIndex(tag, idx, opts...); err != nil {
		return v1.Hash{}, fmt.Errorf("push %s: %w", tag, err)
	}
	return d, nil
}
