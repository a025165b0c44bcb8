package main

// What every image this tool builds looks like. The Dockerfile writes the
// same for Docker users; manifests/manifests_test.go reads these constants
// from this file and fails when the Dockerfile's COPY destination, USER or
// ENTRYPOINT drift from them. Keep them untyped string literals: that test
// parses them without compiling this module.
const (
	// BinDir is the directory the binary lands in; the entrypoint is
	// BinDir + "/" + the binary's file name.
	BinDir = "/usr/local/bin"
	// User is the default user: the controller runs as it, the speaker's
	// DaemonSet overrides it with uid 0 and only NET_RAW.
	User = "65532:65532"
)

// The annotations on the layout's index.json entries that name the image.
// containerd 1.6's importer (`ctr images import`, k3s' image directory)
// creates one image per entry and takes its name verbatim from
// AnnotationImageName; without it, it reads AnnotationRefName and, when
// that is only a tag, names the image "import-<date>:<tag>" (tried with
// containerd 1.6.20). The tag entry carries both, as `ctr images export`
// writes them; the digest entry (name@sha256:...) only AnnotationImageName.
const (
	AnnotationImageName = "io.containerd.image.name"
	AnnotationRefName   = "org.opencontainers.image.ref.name"
)

// The labels every image carries in its config.
const (
	LabelSource   = "org.opencontainers.image.source"
	LabelVersion  = "org.opencontainers.image.version"
	LabelRevision = "org.opencontainers.image.revision"
)
