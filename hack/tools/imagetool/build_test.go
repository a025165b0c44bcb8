package main

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseBinary(t *testing.T) {
	tests := []struct {
		in      string
		want    string // platform
		wantErr string
	}{
		{in: "linux/amd64=bin/linux_amd64/leaselb", want: "linux/amd64"},
		{in: "linux/arm/v7=bin/linux_arm_v7/leaselb", want: "linux/arm/v7"},
		{in: "linux/arm=bin/x", wantErr: "needs a variant"},
		{in: "linux/amd64", wantErr: "want PLATFORM=FILE"},
		{in: "linux/amd64=", wantErr: "want PLATFORM=FILE"},
		{in: "=bin/x", wantErr: "OS and an architecture"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			b, err := parseBinary(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if b.Platform.String() != tt.want {
				t.Errorf("platform %s, want %s", b.Platform, tt.want)
			}
		})
	}
}

func TestImageName(t *testing.T) {
	tests := []struct {
		in, want string
		wantErr  bool
	}{
		{in: "ghcr.io/leaselb/leaselb:v0.1.0", want: "ghcr.io/leaselb/leaselb:v0.1.0"},
		{in: "leaselb.lab/echo:v1", want: "leaselb.lab/echo:v1"},
		{in: "leaselb.lab/leaselb:dev", want: "leaselb.lab/leaselb:dev"},
		// containerd and the kubelet spell Docker Hub docker.io, not index.docker.io.
		{in: "index.docker.io/leaselb/leaselb:v1", want: "docker.io/leaselb/leaselb:v1"},
		{in: "registry.example:5000/leaselb:v1", want: "registry.example:5000/leaselb:v1"},
		{in: "ghcr.io/leaselb/leaselb", wantErr: true},           // no tag
		{in: "ghcr.io/leaselb/Leaselb:v1", wantErr: true},        // upper case
		{in: "ghcr.io/leaselb/leaselb@sha256:00", wantErr: true}, // a digest is not a name
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := imageName(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err %v, want error %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestCheckELF(t *testing.T) {
	amd64, arm64, armv7 := mustPlatform(t, "linux/amd64"), mustPlatform(t, "linux/arm64"), mustPlatform(t, "linux/arm/v7")
	tests := []struct {
		name    string
		data    []byte
		p       string
		wantErr string
	}{
		{name: "amd64", data: elfFor(t, amd64), p: "linux/amd64"},
		{name: "arm64", data: elfFor(t, arm64), p: "linux/arm64"},
		{name: "arm/v7", data: elfFor(t, armv7), p: "linux/arm/v7"},
		{name: "arm64 binary for amd64", data: elfFor(t, arm64), p: "linux/amd64", wantErr: "GOARCH=amd64"},
		{name: "amd64 binary for arm", data: elfFor(t, amd64), p: "linux/arm/v7", wantErr: "GOARCH=arm"},
		{name: "dynamic", data: fakeELF(elf.EM_X86_64, elf.ELFCLASS64, true), p: "linux/amd64", wantErr: "CGO_ENABLED=0"},
		{name: "a script", data: []byte("#!/bin/sh\necho hi\n"), p: "linux/amd64", wantErr: "not an ELF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkELF(tt.data, mustPlatform(t, tt.p))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestBuildRejects(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(t *testing.T, s *Spec)
		wantErr string
	}{
		{name: "no binaries", edit: func(t *testing.T, s *Spec) { s.Binaries = nil }, wantErr: "no binaries"},
		{name: "platform twice", edit: func(t *testing.T, s *Spec) { s.Binaries = append(s.Binaries, s.Binaries[0]) }, wantErr: "given twice"},
		{name: "missing file", edit: func(t *testing.T, s *Spec) { s.Binaries[1].File = filepath.Join(t.TempDir(), "leaselb") }, wantErr: "build it first"},
		{name: "file names differ", edit: func(t *testing.T, s *Spec) {
			f := filepath.Join(filepath.Dir(s.Binaries[1].File), "other")
			if err := os.Rename(s.Binaries[1].File, f); err != nil {
				t.Fatal(err)
			}
			s.Binaries[1].File = f
		}, wantErr: "one file name"},
		{name: "wrong architecture", edit: func(t *testing.T, s *Spec) { s.Binaries[0].File = s.Binaries[1].File }, wantErr: "GOARCH=amd64"},
		{name: "bad name", edit: func(t *testing.T, s *Spec) { s.Name = "leaselb" }, wantErr: "image name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := testSpec(t, "leaselb", allPlatforms...)
			tt.edit(t, &spec)
			_, _, err := Build(spec)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

// TestBuildIsReproducible: two builds of the same binaries give one
// digest and byte-identical tarballs, and the epoch is what sets the
// times (a different one changes the digest).
func TestBuildIsReproducible(t *testing.T) {
	spec := testSpec(t, "leaselb", allPlatforms...)
	build := func(s Spec) (string, []byte) {
		idx, ref, err := Build(s)
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		if err := WriteLayout(filepath.Join(dir, "l"), idx, ref); err != nil {
			t.Fatal(err)
		}
		if err := WriteTar(filepath.Join(dir, "l.tar"), filepath.Join(dir, "l"), s.Epoch); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(filepath.Join(dir, "l.tar"))
		if err != nil {
			t.Fatal(err)
		}
		d, err := idx.Digest()
		if err != nil {
			t.Fatal(err)
		}
		return d.String(), data
	}
	d1, tar1 := build(spec)
	time.Sleep(1100 * time.Millisecond) // a build that used the clock would now differ
	d2, tar2 := build(spec)
	if d1 != d2 {
		t.Errorf("two builds: digests %s and %s", d1, d2)
	}
	if !bytes.Equal(tar1, tar2) {
		t.Errorf("two builds: tarballs differ")
	}
	spec.Epoch = spec.Epoch.Add(time.Second)
	if d3, _ := build(spec); d3 == d1 {
		t.Errorf("another SOURCE_DATE_EPOCH gave the same digest %s: the epoch is not used", d3)
	}
}

// TestWriteTar: the tarball holds exactly the layout's files, root-owned,
// at the epoch, with the OCI layout's names at the top (the importer looks
// for oci-layout and index.json there).
func TestWriteTar(t *testing.T) {
	spec := testSpec(t, "leaselb", "linux/amd64")
	dir := buildLayout(t, spec)
	file := filepath.Join(t.TempDir(), "image.tar")
	if err := WriteTar(file, dir, spec.Epoch); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	files := map[string]bool{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Uid != 0 || h.Gid != 0 || !h.ModTime.Equal(spec.Epoch) {
			t.Errorf("%s: owner %d:%d, time %s; want 0:0 at %s", h.Name, h.Uid, h.Gid, h.ModTime, spec.Epoch)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		want, err := os.ReadFile(filepath.Join(dir, h.Name))
		if err != nil {
			t.Errorf("tar has %s, the layout does not: %v", h.Name, err)
			continue
		}
		got, _ := io.ReadAll(tr)
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from the layout's", h.Name)
		}
		files[h.Name] = true
	}
	for _, n := range []string{"oci-layout", "index.json"} {
		if !files[n] {
			t.Errorf("tar lacks %s", n)
		}
	}
	// index.json, oci-layout, and per platform a manifest, a config and a layer, plus the index.
	if want := 2 + 1 + 3; len(files) != want {
		t.Errorf("tar has %d files, want %d: %v", len(files), want, files)
	}
}
