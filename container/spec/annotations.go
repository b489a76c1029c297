package spec

import (
	"maps"

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

// containerAnnotations: the CRI annotations of the container, then the
// io.kubernetes.cri.* keys, which win so a request cannot forge them.
func containerAnnotations(in Input) map[string]string {
	a := make(map[string]string, len(in.Config.GetAnnotations())+8)
	maps.Copy(a, in.Config.GetAnnotations())
	podAnnotations(a, in.Sandbox)
	a[AnnotationContainerType] = ContainerTypeContainer
	a[AnnotationSandboxID] = in.SandboxID
	a[AnnotationContainerName] = in.Config.GetMetadata().GetName()
	a[AnnotationImageName] = in.ImageName
	return a
}

// sandboxAnnotations: the pod's CRI annotations, then the
// io.kubernetes.cri.* keys.
func sandboxAnnotations(in SandboxInput) map[string]string {
	a := make(map[string]string, len(in.Config.GetAnnotations())+8)
	maps.Copy(a, in.Config.GetAnnotations())
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
