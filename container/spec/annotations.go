package spec

import (
	"strings"

	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Annotation keys containerd writes into every CRI spec; monitoring agents
// and OCI hooks read them to map a runc container back to its pod.
const (
	AnnotationContainerType    = "io.kubernetes.cri.container-type"
	AnnotationSandboxID        = "io.kubernetes.cri.sandbox-id"
	AnnotationSandboxName      = "io.kubernetes.cri.sandbox-name"
	AnnotationSandboxNamespace = "io.kubernetes.cri.sandbox-namespace"
	AnnotationSandboxUID       = "io.kubernetes.cri.sandbox-uid"
	AnnotationSandboxLogDir    = "io.kubernetes.cri.sandbox-log-directory"
	AnnotationSandboxImageName = "io.kubernetes.cri.podsandbox.image-name"
	AnnotationContainerName    = "io.kubernetes.cri.container-name"
	AnnotationImageName        = "io.kubernetes.cri.image-name"

	ContainerTypeSandbox   = "sandbox"
	ContainerTypeContainer = "container"
)

// AllowedAnnotations lists which CRI annotations reach the OCI spec. A CRI
// annotation in the spec is a knob for the OCI runtime and its hooks (crun
// reads run.oci.* keys, some hooks act on their own keys), and anyone who
// can create a pod sets them, so none passes unless listed, as with
// containerd's pod_annotations/container_annotations and CRI-O's
// allowed_annotations. An entry is a key, or a prefix ending in "*".
type AllowedAnnotations struct {
	Pod       []string // pod annotations, copied to the pause and every container
	Container []string // container annotations, copied to that container
}

// allowed reports whether key matches one of patterns.
func allowed(patterns []string, key string) bool {
	for _, p := range patterns {
		if prefix, ok := strings.CutSuffix(p, "*"); ok && strings.HasPrefix(key, prefix) || p == key {
			return true
		}
	}
	return false
}

// copyAllowed copies the annotations of from whose key is allowed.
func copyAllowed(to, from map[string]string, patterns []string) {
	for k, v := range from {
		if allowed(patterns, k) {
			to[k] = v
		}
	}
}

// containerAnnotations: the allowed CRI annotations of the pod and the
// container, then the io.kubernetes.cri.* keys, which win so a request
// cannot forge them.
func containerAnnotations(in Input) map[string]string {
	a := make(map[string]string, 8)
	copyAllowed(a, in.Sandbox.GetAnnotations(), in.AllowedAnnotations.Pod)
	copyAllowed(a, in.Config.GetAnnotations(), in.AllowedAnnotations.Container)
	podAnnotations(a, in.Sandbox)
	a[AnnotationContainerType] = ContainerTypeContainer
	a[AnnotationSandboxID] = in.SandboxID
	a[AnnotationContainerName] = in.Config.GetMetadata().GetName()
	a[AnnotationImageName] = in.ImageName
	return a
}

// sandboxAnnotations: the pod's allowed CRI annotations, then the
// io.kubernetes.cri.* keys.
func sandboxAnnotations(in SandboxInput) map[string]string {
	a := make(map[string]string, 8)
	copyAllowed(a, in.Config.GetAnnotations(), in.AllowedAnnotations.Pod)
	podAnnotations(a, in.Config)
	a[AnnotationContainerType] = ContainerTypeSandbox
	a[AnnotationSandboxID] = in.ID
	a[AnnotationSandboxLogDir] = in.Config.GetLogDirectory()
	a[AnnotationSandboxImageName] = in.ImageName
	return a
}

func podAnnotations(a map[string]string, pod *runtime.PodSandboxConfig) {
	a[AnnotationSandboxName] = pod.GetMetadata().GetName()
	a[AnnotationSandboxNamespace] = pod.GetMetadata().GetNamespace()
	a[AnnotationSandboxUID] = pod.GetMetadata().GetUid()
}
