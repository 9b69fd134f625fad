package jail

// RelayLogEvery is relayLogEvery, for tests that bound a log flood.
const RelayLogEvery = relayLogEvery

// CgroupParent is where j makes its jails' cgroups for controller
// (cgroup v1), or "" where it makes none.
func CgroupParent(j *Jail, controller string) string {
	if j.cgroups == nil {
		return ""
	}
	return j.cgroups.parents[controller]
}

// WithoutCgroups makes j start its jails without cgroups, as where kubelab
// cannot make them, for a side-by-side measurement.
func WithoutCgroups(j *Jail) { j.cgroups = nil }
