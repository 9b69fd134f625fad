package grader

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"reflect"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
)

// maxRelease bounds the decompressed release a check decodes: a learner
// could store anything in a Secret that looks like a release.
const maxRelease = 4 << 20

// helmReleaseLib adds helmRelease(object): the Helm release a release
// Secret (type helm.sh/release.v1, as helm stores one per revision) holds,
// as a map: name, namespace, revision, status, chart, chartVersion,
// appVersion and values. So a check can say which chart a learner
// installed and with what, which the Secret's labels do not tell.
func helmReleaseLib() cel.EnvOption {
	return cel.Function("helmRelease",
		cel.Overload("helmRelease_dyn", []*cel.Type{cel.DynType}, cel.DynType,
			cel.UnaryBinding(func(v ref.Val) ref.Val {
				obj, err := v.ConvertToNative(reflect.TypeFor[map[string]any]())
				if err != nil {
					return types.NewErr("helmRelease: want a Secret: %v", err)
				}
				rel, err := decodeRelease(obj.(map[string]any))
				if err != nil {
					return types.NewErr("helmRelease: %v", err)
				}
				return types.DefaultTypeAdapter.NativeToValue(rel)
			})))
}

// decodeRelease undoes what helm does to a release before storing it in
// a Secret: JSON, gzip, base64 (and the Secret's own base64).
func decodeRelease(secret map[string]any) (map[string]any, error) {
	if t, _ := secret["type"].(string); t != "helm.sh/release.v1" {
		return nil, fmt.Errorf("not a Helm release Secret (type %q)", t)
	}
	data, _ := secret["data"].(map[string]any)
	field, _ := data["release"].(string)
	outer, err := base64.StdEncoding.DecodeString(field)
	if err != nil {
		return nil, fmt.Errorf("release data: %w", err)
	}
	inner, err := base64.StdEncoding.DecodeString(string(outer))
	if err != nil {
		return nil, fmt.Errorf("release data: %w", err)
	}
	if bytes.HasPrefix(inner, []byte{0x1f, 0x8b}) {
		zr, err := gzip.NewReader(bytes.NewReader(inner))
		if err != nil {
			return nil, fmt.Errorf("release data: %w", err)
		}
		if inner, err = io.ReadAll(io.LimitReader(zr, maxRelease+1)); err != nil {
			return nil, fmt.Errorf("release data: %w", err)
		}
		if len(inner) > maxRelease {
			return nil, fmt.Errorf("release data over %d bytes", maxRelease)
		}
	}
	var rel struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
		Version   int    `json:"version"`
		Info      struct {
			Status string `json:"status"`
		} `json:"info"`
		Chart struct {
			Metadata struct {
				Name       string `json:"name"`
				Version    string `json:"version"`
				AppVersion string `json:"appVersion"`
			} `json:"metadata"`
		} `json:"chart"`
		Config map[string]any `json:"config"`
	}
	if err := json.Unmarshal(inner, &rel); err != nil {
		return nil, fmt.Errorf("release data: %w", err)
	}
	if rel.Config == nil {
		rel.Config = map[string]any{}
	}
	return map[string]any{
		"name": rel.Name, "namespace": rel.Namespace, "revision": int64(rel.Version), "status": rel.Info.Status,
		"chart": rel.Chart.Metadata.Name, "chartVersion": rel.Chart.Metadata.Version,
		"appVersion": rel.Chart.Metadata.AppVersion, "values": rel.Config,
	}, nil
}
