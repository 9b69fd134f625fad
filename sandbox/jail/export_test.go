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
