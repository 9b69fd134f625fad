package jail

import (
	"encoding/binary"
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"
)

// blockedSyscalls are the system calls a jailed learner never needs and
// that widen the kernel's attack surface or reach past the namespaces:
// io_uring (a second, unfiltered syscall path), kernel keyrings (not
// namespaced), eBPF and perf, userfaultfd (a classic exploit aid), kernel
// modules and kexec, mounting, swap, reboot, new namespaces and ptrace.
// Each fails with EPERM, so tools print a plain "Operation not permitted".
var blockedSyscalls = []uintptr{
	unix.SYS_IO_URING_SETUP, unix.SYS_IO_URING_ENTER, unix.SYS_IO_URING_REGISTER,
	unix.SYS_KEYCTL, unix.SYS_ADD_KEY, unix.SYS_REQUEST_KEY,
	unix.SYS_BPF, unix.SYS_PERF_EVENT_OPEN, unix.SYS_USERFAULTFD,
	unix.SYS_KEXEC_LOAD, unix.SYS_KEXEC_FILE_LOAD,
	unix.SYS_INIT_MODULE, unix.SYS_FINIT_MODULE, unix.SYS_DELETE_MODULE,
	unix.SYS_MOUNT, unix.SYS_UMOUNT2, unix.SYS_PIVOT_ROOT, unix.SYS_MOUNT_SETATTR,
	unix.SYS_OPEN_TREE, unix.SYS_MOVE_MOUNT, unix.SYS_FSOPEN, unix.SYS_FSCONFIG, unix.SYS_FSMOUNT, unix.SYS_FSPICK,
	unix.SYS_SWAPON, unix.SYS_SWAPOFF, unix.SYS_REBOOT,
	unix.SYS_UNSHARE, unix.SYS_SETNS, unix.SYS_PTRACE,
}

// auditArch is the seccomp architecture of this build; seccompFilter
// refuses every call made under another (such as 32-bit calls on amd64,
// whose numbers differ).
var auditArch = map[string]uint32{
	"amd64": unix.AUDIT_ARCH_X86_64,
	"arm64": unix.AUDIT_ARCH_AARCH64,
}

// x32Bit marks amd64's x32 system calls, which would otherwise reach the
// blocked calls under other numbers.
const x32Bit = 0x40000000

// Classic BPF opcodes and seccomp_data offsets (linux/filter.h, linux/seccomp.h).
const (
	bpfLoadAbs = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
	bpfJumpEq  = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
	bpfJumpGE  = unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K
	bpfReturn  = unix.BPF_RET | unix.BPF_K
	offsetNr   = 0
	offsetArch = 4
)

// seccompFilter is the program bwrap's --seccomp installs before it runs
// the learner's first process: it lets every call through but
// blockedSyscalls, and refuses calls made under a foreign architecture.
func seccompFilter() ([]byte, error) {
	arch, ok := auditArch[runtime.GOARCH]
	if !ok {
		return nil, fmt.Errorf("seccomp filter: no syscall table for %s", runtime.GOARCH)
	}
	type insn struct {
		code   uint16
		jt, jf uint8
		k      uint32
	}
	// The last instruction denies; a jump to it from index i skips
	// len-i-2 instructions, filled in below.
	prog := []insn{
		{code: bpfLoadAbs, k: offsetArch},
		{code: bpfJumpEq, jt: 1, k: arch},
		{code: bpfReturn, k: unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)},
		{code: bpfLoadAbs, k: offsetNr},
	}
	var toDeny []int
	if runtime.GOARCH == "amd64" {
		toDeny = append(toDeny, len(prog))
		prog = append(prog, insn{code: bpfJumpGE, k: x32Bit})
	}
	for _, nr := range blockedSyscalls {
		toDeny = append(toDeny, len(prog))
		prog = append(prog, insn{code: bpfJumpEq, k: uint32(nr)})
	}
	prog = append(prog,
		insn{code: bpfReturn, k: unix.SECCOMP_RET_ALLOW},
		insn{code: bpfReturn, k: unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)},
	)
	for _, i := range toDeny {
		prog[i].jt = uint8(len(prog) - i - 2)
	}
	var b []byte
	for _, in := range prog {
		// struct sock_filter, in the kernel's byte order.
		b = binary.NativeEndian.AppendUint16(b, in.code)
		b = append(b, in.jt, in.jf)
		b = binary.NativeEndian.AppendUint32(b, in.k)
	}
	return b, nil
}
