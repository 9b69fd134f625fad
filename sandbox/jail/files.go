package jail

import (
	"encoding/base64"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
)

// etcAllowed are the host's /etc entries a shell needs (dynamic linking,
// terminal and editor settings, alternatives for vi/less, CA roots).
// Everything else in /etc stays outside: it may hold secrets.
var etcAllowed = []string{
	"/etc/alternatives",
	"/etc/bash.bashrc",
	"/etc/bash_completion",
	"/etc/bash_completion.d",
	"/etc/ca-certificates",
	"/etc/ssl/certs",
	"/etc/inputrc",
	"/etc/ld.so.cache",
	"/etc/ld.so.conf",
	"/etc/ld.so.conf.d",
	"/etc/locale.alias",
	"/etc/localtime",
	"/etc/magic",
	"/etc/mime.types",
	"/etc/nanorc",
	"/etc/nsswitch.conf",
	"/etc/os-release",
	"/etc/debian_version",
	"/etc/profile",
	"/etc/profile.d",
	"/etc/terminfo",
	"/etc/vim",
	"/etc/less",
	"/etc/lesskey",
	"/etc/gitconfig",
}

// etcFiles are generated: the jail's own users and names.
func etcFiles() map[string][]byte {
	return map[string][]byte{
		"/etc/passwd": []byte(fmt.Sprintf("root:x:0:0:root:/root:/usr/sbin/nologin\n"+
			"%s:x:%d:%d:learner:%s:/bin/bash\n"+
			"nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n", jailUser, jailUID, jailUID, jailHome)),
		"/etc/group": []byte(fmt.Sprintf("root:x:0:\n%s:x:%d:\nnogroup:x:65534:\n", jailUser, jailUID)),
		"/etc/hosts": []byte("127.0.0.1 localhost kubelab\n::1 localhost ip6-localhost\n"),
		// No resolver: the jail has no network but loopback.
		"/etc/resolv.conf": []byte("# no DNS in the kubelab jail\n"),
		"/etc/hostname":    []byte("kubelab\n"),
	}
}

// kubeconfig is the learner's only credential: each API server through the
// forwarder, TLS verified against the real server name (hosts[i] is
// cluster i's host, the primary one first).
func kubeconfig(s Spec, hosts []string) []byte {
	ctx := cmpOr(s.Context, "kubelab")
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: Config\nclusters:\n")
	cluster := func(name string, i int, ca []byte) {
		fmt.Fprintf(&b, "- name: %s\n  cluster:\n    server: https://%s\n", yamlString(name), forwardAddr(i))
		if hosts[i] != "127.0.0.1" {
			fmt.Fprintf(&b, "    tls-server-name: %s\n", yamlString(hosts[i]))
		}
		if len(ca) > 0 {
			fmt.Fprintf(&b, "    certificate-authority-data: %s\n", base64.StdEncoding.EncodeToString(ca))
		}
	}
	cluster("kubelab", 0, s.CAData)
	for i, o := range s.Others {
		cluster("kubelab-"+o.Context, i+1, o.CAData)
	}
	b.WriteString("users:\n- name: learner\n  user:\n")
	if s.Token != "" {
		// A file, not the token itself: Shell.SetToken renews it in place.
		fmt.Fprintf(&b, "    tokenFile: %s\n", jailToken)
	}
	certs := func(cert, key []byte) {
		if len(cert) > 0 {
			fmt.Fprintf(&b, "    client-certificate-data: %s\n", base64.StdEncoding.EncodeToString(cert))
			fmt.Fprintf(&b, "    client-key-data: %s\n", base64.StdEncoding.EncodeToString(key))
		}
	}
	certs(s.CertData, s.KeyData)
	for _, o := range s.Others {
		fmt.Fprintf(&b, "- name: %s\n  user:\n", yamlString("learner-"+o.Context))
		if o.Token != "" {
			fmt.Fprintf(&b, "    token: %s\n", yamlString(o.Token))
		}
		certs(o.CertData, o.KeyData)
	}
	b.WriteString("contexts:\n")
	// kubectl's own order (name last), which the prompt's parser expects.
	b.WriteString("- context:\n    cluster: kubelab\n    user: learner\n")
	if s.Namespace != "" {
		fmt.Fprintf(&b, "    namespace: %s\n", yamlString(s.Namespace))
	}
	fmt.Fprintf(&b, "  name: %s\n", yamlString(ctx))
	// One context per extra namespace, named <context>-<logical>, so a
	// lesson can teach switching contexts.
	logical := make([]string, 0, len(s.Namespaces))
	for name := range s.Namespaces {
		logical = append(logical, name)
	}
	sort.Strings(logical)
	for _, name := range logical {
		fmt.Fprintf(&b, "- context:\n    cluster: kubelab\n    user: learner\n    namespace: %s\n", yamlString(s.Namespaces[name]))
		fmt.Fprintf(&b, "  name: %s\n", yamlString(ctx+"-"+name))
	}
	for _, o := range s.Others {
		fmt.Fprintf(&b, "- context:\n    cluster: %s\n    user: %s\n    namespace: default\n",
			yamlString("kubelab-"+o.Context), yamlString("learner-"+o.Context))
		fmt.Fprintf(&b, "  name: %s\n", yamlString(o.Context))
	}
	fmt.Fprintf(&b, "current-context: %s\n", yamlString(ctx))
	return []byte(b.String())
}

// helmRepositories is helm's repositories.yaml naming the chart
// repository the jail serves.
func helmRepositories(name string) []byte {
	return []byte(fmt.Sprintf("apiVersion: \"\"\ngenerated: \"0001-01-01T00:00:00Z\"\nrepositories:\n- name: %s\n  url: http://%s\n", yamlString(name), chartsAddr))
}

// yamlString quotes s as a YAML double-quoted scalar (JSON is YAML).
func yamlString(s string) string {
	return fmt.Sprintf("%q", s)
}

// shellEnv is the whole environment of the jail.
func shellEnv(s Spec) map[string]string {
	env := map[string]string{}
	maps.Copy(env, s.Env)
	maps.Copy(env, map[string]string{
		"HOME":    jailHome,
		"USER":    jailUser,
		"LOGNAME": jailUser,
		"SHELL":   "/bin/bash",
		"TERM":    "xterm-256color",
		"LANG":    "C.UTF-8",
		"PATH":    jailTools + ":/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin",
		"EDITOR":  "vim",
		"NS":      s.Namespace,
	})
	for _, logical := range slices.Sorted(maps.Keys(s.Namespaces)) {
		env["NS_"+envName(logical)] = s.Namespaces[logical]
	}
	return env
}

func envName(s string) string {
	var b strings.Builder
	for _, r := range strings.ToUpper(s) {
		if r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

// profile makes a login shell read .bashrc.
const profile = `[ -f ~/.bashrc ] && . ~/.bashrc
`

// bashrc sets up kubectl for the learner: completion (also for k), the
// alias, and a short prompt that names the namespace once it is not the
// lab's own.
const bashrc = `# kubelab shell
# /etc/profile sets PATH anew: kubelab's tools come first again.
case ":$PATH:" in *:` + jailTools + `:*) ;; *) PATH="` + jailTools + `:$PATH" ;; esac
alias k=kubectl
# kns [NAMESPACE] and kctx [CONTEXT]: switch the current context's
# namespace, or the context; without an argument, list them.
kns() {
	if [ $# -eq 0 ]; then kubectl get namespaces -o name | sed 's|^namespace/||'; return; fi
	kubectl config set-context --current --namespace="$1" >/dev/null && echo "namespace: $1"
}
kctx() {
	if [ $# -eq 0 ]; then kubectl config get-contexts; return; fi
	kubectl config use-context "$1"
}
# k9s is built in the background at kubelab's first start: until it is
# there, say so; once it is, run it (this shell may predate it).
command -v k9s >/dev/null 2>&1 || k9s() {
	local p
	if p=$(type -P k9s); then unset -f k9s; "$p" "$@"; return; fi
	echo "k9s is not installed on this kubelab yet: kubelab builds it at its first start as root (minutes), or its operator runs: kubelab toolbox" >&2
	return 127
}
export KUBECONFIG="$HOME/.kube/config"
case $- in *i*) ;; *) return ;; esac

HISTSIZE=5000
HISTCONTROL=ignoredups
shopt -s histappend checkwinsize
[ -f /usr/share/bash-completion/bash_completion ] && . /usr/share/bash-completion/bash_completion
[ -s /etc/kubelab/kubectl-completion.bash ] && . /etc/kubelab/kubectl-completion.bash
complete -o default -F __start_kubectl k 2>/dev/null
alias ls='ls --color=auto'
alias ll='ls -l'

# __kubelab_ns prints the current context's namespace from the kubeconfig
# without running kubectl, so the prompt stays instant.
__kubelab_ns() {
	awk '
		/^contexts:/ { inctx = 1; next }
		/^[^ -]/ { inctx = 0 }
		/^current-context:/ { cur = $2; gsub(/"/, "", cur) }
		inctx && $1 == "-" { ns = "" }
		inctx && $1 == "namespace:" { ns = $2; gsub(/"/, "", ns) }
		inctx && $1 == "name:" { n = $2; gsub(/"/, "", n); nsof[n] = ns }
		END { print (nsof[cur] != "" ? nsof[cur] : "default") }
	' "${KUBECONFIG:-$HOME/.kube/config}" 2>/dev/null
}
# The prompt stays short (the page's status bar names the lab's namespace):
# it names the namespace only once kubectl works in another one.
__kubelab_ns_note() {
	local ns
	ns=$(__kubelab_ns)
	[ "$ns" != "${NS:-}" ] && printf ' (ns: %s)' "$ns"
}
PS1='\[\e[1;34m\]\w\[\e[0m\]\[\e[1;32m\]$(__kubelab_ns_note)\[\e[0m\] \$ '
`
