package simcluster

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func TestNodeResources(t *testing.T) {
	t.Parallel()
	list := func(cpu, mem string, pods int64) map[corev1.ResourceName]string {
		return map[corev1.ResourceName]string{corev1.ResourceCPU: cpu, corev1.ResourceMemory: mem,
			corev1.ResourcePods: resource.NewQuantity(pods, resource.DecimalSI).String()}
	}
	tests := []struct {
		name     string
		capacity corev1.ResourceList
		want     map[corev1.ResourceName]string
	}{
		{"defaults", nil, list("32", "256Gi", 110)},
		{"small totals keep the defaults", corev1.ResourceList{
			corev1.ResourcePods: resource.MustParse("300"), corev1.ResourceCPU: resource.MustParse("10"),
		}, list("32", "256Gi", 110)},
		// 200 sandboxes of 3 namespaces of 10 pods, 1 CPU and 1Gi each.
		{"shared among the nodes, rounded up", corev1.ResourceList{
			corev1.ResourcePods: resource.MustParse("6000"), corev1.ResourceCPU: resource.MustParse("600"),
			corev1.ResourceMemory: resource.MustParse("1000Gi"),
		}, list("200", "341334Mi", 2000)},
		{"odd totals", corev1.ResourceList{
			corev1.ResourcePods: resource.MustParse("6001"), corev1.ResourceCPU: resource.MustParse("100001m"),
		}, list("33334m", "256Gi", 2001)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := map[corev1.ResourceName]string{}
			for name, q := range nodeResources(Options{Nodes: 3, PodsPerNode: 110, Capacity: tt.capacity}) {
				got[name] = q.String()
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("node resources (-want +got):\n%s", diff)
			}
			// Together the nodes hold at least what was asked.
			for name, total := range tt.capacity {
				share := resource.MustParse(got[name])
				sum := resource.NewMilliQuantity(share.MilliValue()*3, resource.DecimalSI)
				if sum.Cmp(total) < 0 {
					t.Errorf("%s: 3 nodes × %s = %s < %s", name, got[name], sum, total.String())
				}
			}
		})
	}
}

func TestSameResources(t *testing.T) {
	t.Parallel()
	a := corev1.ResourceList{corev1.ResourcePods: resource.MustParse("110"), corev1.ResourceCPU: resource.MustParse("32")}
	tests := []struct {
		name string
		b    corev1.ResourceList
		want bool
	}{
		{"equal in another notation", corev1.ResourceList{corev1.ResourcePods: resource.MustParse("110"), corev1.ResourceCPU: resource.MustParse("32000m")}, true},
		{"different pods", corev1.ResourceList{corev1.ResourcePods: resource.MustParse("500"), corev1.ResourceCPU: resource.MustParse("32")}, false},
		{"missing cpu", corev1.ResourceList{corev1.ResourcePods: resource.MustParse("110")}, false},
		{"other resource", corev1.ResourceList{corev1.ResourcePods: resource.MustParse("110"), corev1.ResourceMemory: resource.MustParse("32")}, false},
	}
	for _, tt := range tests {
		if got := sameResources(a, tt.b); got != tt.want {
			t.Errorf("%s: sameResources = %v, want %v", tt.name, got, tt.want)
		}
	}
}
