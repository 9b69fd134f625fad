package labs

import (
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// yamlFile walks one YAML file's nodes, reporting problems with line numbers.
// Decoding into structs would stop at the first problem and lose positions,
// so the loader reads nodes field by field instead.
type yamlFile struct {
	name string // path relative to the FS root
	ps   *problems
}

func (f yamlFile) add(n *yaml.Node, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	f.ps.add(f.name, line, format, args...)
}

// parse returns the root node of data, or nil (with a problem) if the file is
// empty or not YAML.
func (f yamlFile) parse(data []byte) *yaml.Node {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		line, msg := yamlErrorLine(err)
		f.ps.add(f.name, line, "invalid YAML: %s", msg)
		return nil
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		f.ps.add(f.name, 0, "file is empty")
		return nil
	}
	return resolve(doc.Content[0])
}

var yamlLinePrefix = regexp.MustCompile(`^yaml: line (\d+): `)

// yamlErrorLine extracts the line from yaml.v3's "yaml: line N: msg" errors.
func yamlErrorLine(err error) (int, string) {
	msg := err.Error()
	if m := yamlLinePrefix.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return line, strings.TrimPrefix(msg, m[0])
	}
	return 0, strings.TrimPrefix(msg, "yaml: ")
}

func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

// field is one key of a mapping: its key node (for the line) and value.
type field struct {
	key, value *yaml.Node
}

// fields returns the keys of mapping n, reporting unknown and repeated keys.
// where prefixes messages, e.g. `task "hello": ` (may be empty).
func (f yamlFile) fields(n *yaml.Node, where, what string, known ...string) map[string]field {
	out := map[string]field{}
	if n.Kind != yaml.MappingNode {
		f.add(n, "%s%s must be a mapping", where, what)
		return out
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], resolve(n.Content[i+1])
		switch {
		case !slices.Contains(known, k.Value):
			f.add(k, "%sunknown field %q", where, k.Value)
		case out[k.Value].key != nil:
			f.add(k, "%sfield %q is set twice", where, k.Value)
		default:
			out[k.Value] = field{key: k, value: v}
		}
	}
	return out
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

// str returns a scalar's text ("" for null); other kinds are problems.
func (f yamlFile) str(fl field, where string) string {
	if fl.value == nil || isNull(fl.value) {
		return ""
	}
	if fl.value.Kind != yaml.ScalarNode {
		f.add(fl.value, "%s%s must be a string", where, fl.key.Value)
		return ""
	}
	return fl.value.Value
}

// integer returns a scalar integer; ok is false if absent or invalid (reported).
func (f yamlFile) integer(fl field, where string) (int, bool) {
	if fl.value == nil || isNull(fl.value) {
		return 0, false
	}
	if fl.value.Kind == yaml.ScalarNode && fl.value.Tag == "!!int" {
		var v int
		if err := fl.value.Decode(&v); err == nil {
			return v, true
		}
	}
	f.add(fl.value, "%s%s must be an integer, not %q", where, fl.key.Value, fl.value.Value)
	return 0, false
}

// boolean returns a scalar bool (false if absent or invalid, reported).
func (f yamlFile) boolean(fl field, where string) bool {
	if fl.value == nil || isNull(fl.value) {
		return false
	}
	if fl.value.Kind == yaml.ScalarNode && fl.value.Tag == "!!bool" {
		var v bool
		if err := fl.value.Decode(&v); err == nil {
			return v
		}
	}
	f.add(fl.value, "%s%s must be true or false, not %q", where, fl.key.Value, fl.value.Value)
	return false
}

// strings returns a sequence of scalars with their nodes.
func (f yamlFile) strings(fl field, where string) ([]string, []*yaml.Node) {
	if fl.value == nil || isNull(fl.value) {
		return nil, nil
	}
	if fl.value.Kind != yaml.SequenceNode {
		f.add(fl.value, "%s%s must be a list of strings", where, fl.key.Value)
		return nil, nil
	}
	var vals []string
	var nodes []*yaml.Node
	for _, item := range fl.value.Content {
		item = resolve(item)
		if item.Kind != yaml.ScalarNode || isNull(item) {
			f.add(item, "%s%s must be a list of strings", where, fl.key.Value)
			continue
		}
		vals = append(vals, item.Value)
		nodes = append(nodes, item)
	}
	return vals, nodes
}
