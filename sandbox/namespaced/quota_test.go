package namespaced

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/kubelab/kubelab/sandbox"
)

// notStored are creatable resources that are requests, not objects: they
// take no room and quota cannot count them.
var notStored = []string{"localsubjectaccessreviews.authorization.k8s.io"}

// legacyCounts are quota names that count every object of a core kind,
// like count/<kind> does.
var legacyCounts = map[string]corev1.ResourceName{
	"services":               corev1.ResourceServices,
	"configmaps":             corev1.ResourceConfigMaps,
	"secrets":                corev1.ResourceSecrets,
	"persistentvolumeclaims": corev1.ResourcePersistentVolumeClaims,
	"replicationcontrollers": corev1.ResourceReplicationControllers,
}

// creatable lists "<resource>.<group>" ("<resource>" for the core group) of
// every kind rules allow creating, subresources left out.
func creatable(rules []rbacv1.PolicyRule) []string {
	var out []string
	for _, r := range rules {
		if !slices.Contains(r.Verbs, "create") && !slices.Contains(r.Verbs, "*") {
			continue
		}
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				if strings.Contains(res, "/") {
					continue
				}
				name := res
				if g != "" {
					name += "." + g
				}
				out = append(out, name)
			}
		}
	}
	return out
}

// TestQuotaCountsEveryCreatableKind fails when a kind the learner may
// create has no count quota: one learner could then fill the etcd every
// sandbox shares.
func TestQuotaCountsEveryCreatableKind(t *testing.T) {
	t.Parallel()
	{
		kinds := creatable(learnerRules())
		if len(kinds) < 10 {
			t.Fatalf("found only %d creatable kinds in learnerRules: %v", len(kinds), kinds)
		}
		for _, size := range []string{"small", "medium", "large"} {
			hard, _ := sizeClass(size)
			for _, kind := range kinds {
				if slices.Contains(notStored, kind) {
					continue
				}
				q, ok := hard[corev1.ResourceName("count/"+kind)]
				if !ok {
					q, ok = hard[legacyCounts[kind]]
				}
				if !ok || q.Value() <= 0 {
					t.Errorf("size %s: learners may create %s but the quota has no count/%s", size, kind, kind)
				}
			}
		}
		// The quota system ignores events, so no count could hold them.
		for _, kind := range []string{"events", "events.events.k8s.io"} {
			if slices.Contains(kinds, kind) {
				t.Errorf("learners may create %s, which quota cannot count", kind)
			}
		}
	}
}

func TestCapacity(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		sandboxes int
		specs     []sandbox.Spec
		want      map[corev1.ResourceName]string
	}{
		{"one small", 1, []sandbox.Spec{{Size: "small"}},
			map[corev1.ResourceName]string{"pods": "10", "cpu": "1", "memory": "1Gi"}},
		// 200 sandboxes of the busiest chapter: three namespaces of 10 pods.
		{"most namespaces wins", 200, []sandbox.Spec{{Size: "small"}, {Size: "small", Namespaces: []string{"dev", "prod"}}, {Size: "medium"}},
			map[corev1.ResourceName]string{"pods": "6k", "cpu": "600", "memory": "600Gi"}},
		{"largest size wins", 10, []sandbox.Spec{{Size: "large"}, {Size: "small", Namespaces: []string{"dev"}}},
			map[corev1.ResourceName]string{"pods": "400", "cpu": "40", "memory": "40Gi"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := map[corev1.ResourceName]string{}
			for name, q := range Capacity(tt.sandboxes, tt.specs...) {
				got[name] = q.String()
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Capacity (-want +got):\n%s", diff)
			}
		})
	}
}
