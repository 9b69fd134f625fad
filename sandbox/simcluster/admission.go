package simcluster

import (
	"context"
	"errors"
	"io"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apiserver/pkg/admission"
	api "k8s.io/kubernetes/pkg/apis/core"
)

// hostPathReclaimPlugin refuses hostPath PersistentVolumes that are not
// Retain. The controller manager runs in kubelab's process (or a child of
// it, as the same user): deleting a Delete volume would remove that
// directory on the machine that runs kubelab, and a learner is the admin of
// their own cluster. Compiled into the API server, it cannot be removed
// the way an admission policy object could.
const hostPathReclaimPlugin = "KubelabHostPathReclaim"

type hostPathReclaim struct{ *admission.Handler }

func newHostPathReclaim(io.Reader) (admission.Interface, error) {
	return hostPathReclaim{admission.NewHandler(admission.Create, admission.Update)}, nil
}

func (hostPathReclaim) Validate(_ context.Context, a admission.Attributes, _ admission.ObjectInterfaces) error {
	if a.GetResource().GroupResource() != api.Resource("persistentvolumes") || a.GetSubresource() != "" {
		return nil
	}
	pv, ok := a.GetObject().(*api.PersistentVolume)
	if !ok || pv.Spec.HostPath == nil || pv.Spec.PersistentVolumeReclaimPolicy == api.PersistentVolumeReclaimRetain {
		return nil
	}
	return apierrors.NewForbidden(a.GetResource().GroupResource(), a.GetName(), errors.New(
		"on kubelab's simulated clusters a hostPath PersistentVolume must use persistentVolumeReclaimPolicy: Retain "+
			"(Delete or Recycle would act on the directories of the machine that runs kubelab)"))
}
