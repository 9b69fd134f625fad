package sandbox

// Labels and annotations kubelab puts on the objects it owns.
const (
	LabelManagedBy = "app.kubernetes.io/managed-by"
	ManagedBy      = "kubelab"
	LabelSandbox   = "kubelab.dev/sandbox"
	LabelOwner     = "kubelab.dev/owner"
	LabelSession   = "kubelab.dev/session"
	LabelExpires   = "kubelab.dev/expires" // unix seconds
	LabelLogical   = "kubelab.dev/logical" // "" for the primary namespace
	LabelInstance  = "kubelab.dev/instance"
	AnnChapter     = "kubelab.dev/chapter"
	AnnSize        = "kubelab.dev/size"
)

// NamespaceName is the real name of a sandbox's namespace: the primary one
// for logical == "", else the extra namespace with that logical name. Ids
// and logical names are DNS-1123 labels; the result stays under 63 bytes for
// ids of 16 and logical names of up to 40 characters.
func NamespaceName(id, logical string) string {
	if logical == "" {
		return "kl-" + id
	}
	return "kl-" + id + "-" + logical
}
