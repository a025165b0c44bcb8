// Command imagetool builds leaselb's container images without Docker and
// without pulling a base image: each platform's static binary becomes one
// layer on the empty image, and the images of all platforms one OCI index,
// written as an OCI layout directory and as one tarball of that layout that
// `ctr images import` (containerd 1.6 and later) and k3s' image directory
// import under the image's name. Every timestamp is SOURCE_DATE_EPOCH, so
// two builds of one commit have one digest.
//
// It is generic enough for any static binary: the lab's echo server is
// built by it too.
//
//	imagetool build --name ghcr.io/leaselb/leaselb:v0.1.0 \
//	    --binary linux/amd64=bin/linux_amd64/leaselb --binary linux/arm/v7=bin/linux_arm_v7/leaselb \
//	    --label org.opencontainers.image.version=v0.1.0 ... \
//	    --layout bin/image/leaselb --tar bin/image/leaselb.tar
//	imagetool verify --layout bin/image/leaselb --name ghcr.io/leaselb/leaselb:v0.1.0 --binary leaselb --platforms linux/amd64,linux/arm64,linux/arm/v7
//	imagetool push --layout bin/image/leaselb registry.example/leaselb:v0.1.0
//
// build and push print the index's digest (sha256:...) on stdout.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "imagetool:", err)
		os.Exit(1)
	}
}

const usage = "usage: imagetool build|verify|push [flags]; imagetool CMD -h for the flags"

func run(args []string) error {
	if len(args) == 0 {
		return errors.New(usage)
	}
	switch args[0] {
	case "build":
		return runBuild(args[1:])
	case "verify":
		return runVerify(args[1:])
	case "push":
		return runPush(args[1:])
	}
	return fmt.Errorf("unknown command %q; %s", args[0], usage)
}

// listFlag collects a repeated flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

// sourceDateEpoch reads SOURCE_DATE_EPOCH (seconds since 1970, as in
// https://reproducible-builds.org/specs/source-date-epoch/); unset means 0.
func sourceDateEpoch() (time.Time, error) {
	s := os.Getenv("SOURCE_DATE_EPOCH")
	if s == "" {
		return time.Unix(0, 0).UTC(), nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q: want seconds since 1970, e.g. $(git log -1 --format=%%ct)", s)
	}
	return time.Unix(n, 0).UTC(), nil
}

func runBuild(args []string) error {
	fs := flag.NewFlagSet("build", flag.ContinueOnError)
	name := fs.String("name", "", "image name with tag, as containerd imports it (e.g. ghcr.io/leaselb/leaselb:v0.1.0)")
	dir := fs.String("layout", "", "OCI layout directory to write (replaced)")
	tarFile := fs.String("tar", "", "also write the layout as this tar file (optional)")
	var bins, labels listFlag
	fs.Var(&bins, "binary", "PLATFORM=FILE, e.g. linux/arm/v7=bin/linux_arm_v7/leaselb (repeat per platform)")
	fs.Var(&labels, "label", "KEY=VALUE config label (repeat)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *name == "" || *dir == "" {
		return errors.New("build: --name and --layout are required")
	}
	epoch, err := sourceDateEpoch()
	if err != nil {
		return err
	}
	spec := Spec{Name: *name, Epoch: epoch, Labels: map[string]string{}}
	for _, b := range bins {
		bin, err := parseBinary(b)
		if err != nil {
			return err
		}
		spec.Binaries = append(spec.Binaries, bin)
	}
	for _, l := range labels {
		k, v, ok := strings.Cut(l, "=")
		if !ok || k == "" {
			return fmt.Errorf("--label %q: want KEY=VALUE", l)
		}
		spec.Labels[k] = v
	}
	for _, l := range []string{LabelSource, LabelVersion, LabelRevision} {
		if spec.Labels[l] == "" {
			return fmt.Errorf("build: no --label %s=...; every image says where it comes from", l)
		}
	}
	idx, ref, err := Build(spec)
	if err != nil {
		return err
	}
	if err := WriteLayout(*dir, idx, ref); err != nil {
		return err
	}
	if *tarFile != "" {
		if err := WriteTar(*tarFile, *dir, epoch); err != nil {
			return fmt.Errorf("tar of %s: %w", *dir, err)
		}
	}
	d, err := idx.Digest()
	if err != nil {
		return err
	}
	fmt.Println(d)
	return nil
}

func runVerify(args []string) error {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	dir := fs.String("layout", "", "OCI layout directory to check")
	name := fs.String("name", "", "the name it must import as")
	binary := fs.String("binary", "", "the binary's file name, e.g. leaselb")
	plats := fs.String("platforms", "", "the platforms it must hold exactly, separated by commas or spaces, e.g. linux/amd64,linux/arm64,linux/arm/v7")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" || *name == "" || *binary == "" || *plats == "" {
		return errors.New("verify: --layout, --name, --binary and --platforms are required")
	}
	want := Want{Name: *name, Binary: *binary}
	for _, s := range strings.FieldsFunc(*plats, func(r rune) bool { return r == ',' || r == ' ' }) {
		p, err := v1.ParsePlatform(s)
		if err != nil {
			return fmt.Errorf("--platforms: %w", err)
		}
		want.Platforms = append(want.Platforms, *p)
	}
	d, err := Verify(*dir, want)
	if err != nil {
		return err
	}
	fmt.Printf("%s %s: %s, %d platforms, user %s, entrypoint %s/%s\n", *dir, *name, d, len(want.Platforms), User, BinDir, *binary)
	return nil
}

func runPush(args []string) error {
	fs := flag.NewFlagSet("push", flag.ContinueOnError)
	dir := fs.String("layout", "", "OCI layout directory to push")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" || fs.NArg() != 1 {
		return errors.New("push: want --layout DIR REGISTRY/REPOSITORY:TAG")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	d, err := Push(ctx, *dir, fs.Arg(0))
	if err != nil {
		return err
	}
	fmt.Printf("%s@%s\n", fs.Arg(0), d)
	return nil
}
