// Command render renders a Helm chart the way `helm template` does, closely enough for the
// Dossier chart, without Helm: Go's text/template with the sprig functions and Helm's own
// (include, tpl, required, toYaml, fromYaml, toJson, fromJson, lookup), Helm's values
// coalescing and its built-in objects (.Values, .Release, .Chart, .Capabilities, .Template,
// .Files).
//
// It is stricter than Helm in one way: a template that reads a key missing from the values
// fails (text/template's missingkey=error), so every optional value must be present in
// values.yaml. Values files are loaded as Helm loads them (through JSON: every number is a
// float64), so a template that prints a large number without converting it shows the same
// exponent Helm would.
//
// Usage:
//
//	render [-f values.yaml]... [--name dossier] [--namespace default] [--upgrade] [--revision 1]
//	       [--kube-version v1.30.0] [--api-versions group/version[/Kind]]... [--output yaml|json]
//	       [--values-out merged.json] CHART_DIR
//
// The YAML output is a stream of documents, each after a `# Source: <chart>/templates/<file>`
// comment, empty documents dropped, ordered as Helm installs them (hooks last). The JSON
// output is {"values": merged values, "documents": [{"source", "hook", "object"}]}.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/template"

	sv "github.com/Masterminds/semver"
	"github.com/Masterminds/sprig"
	"gopkg.in/yaml.v3"
)

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// ChartMeta carries Chart.yaml under Helm's field names (`.Chart.AppVersion`, …).
type ChartMeta struct {
	APIVersion   string
	Name         string
	Version      string
	AppVersion   string
	Description  string
	Type         string
	KubeVersion  string
	Home         string
	Icon         string
	Keywords     []string
	Sources      []string
	Annotations  map[string]string
	Deprecated   bool
	Dependencies []interface{}
	Maintainers  []interface{}
}

type chartFile struct {
	APIVersion   string            `yaml:"apiVersion"`
	Name         string            `yaml:"name"`
	Version      string            `yaml:"version"`
	AppVersion   string            `yaml:"appVersion"`
	Description  string            `yaml:"description"`
	Type         string            `yaml:"type"`
	KubeVersion  string            `yaml:"kubeVersion"`
	Home         string            `yaml:"home"`
	Icon         string            `yaml:"icon"`
	Keywords     []string          `yaml:"keywords"`
	Sources      []string          `yaml:"sources"`
	Annotations  map[string]string `yaml:"annotations"`
	Deprecated   bool              `yaml:"deprecated"`
	Dependencies []interface{}     `yaml:"dependencies"`
	Maintainers  []interface{}     `yaml:"maintainers"`
}

// Release is `.Release`.
type Release struct {
	Name      string
	Namespace string
	Service   string
	IsInstall bool
	IsUpgrade bool
	Revision  int
}

// KubeVersion is `.Capabilities.KubeVersion`.
type KubeVersion struct {
	Version    string
	Major      string
	Minor      string
	GitVersion string
}

func (k KubeVersion) String() string { return k.Version }

// VersionSet is `.Capabilities.APIVersions`.
type VersionSet []string

// Has reports whether "group/version" or "group/version/Kind" is available.
func (v VersionSet) Has(apiVersion string) bool {
	for _, x := range v {
		if x == apiVersion {
			return true
		}
	}
	return false
}

// Capabilities is `.Capabilities`.
type Capabilities struct {
	KubeVersion KubeVersion
	APIVersions VersionSet
	HelmVersion map[string]string
}

// TemplateInfo is `.Template`.
type TemplateInfo struct {
	Name     string
	BasePath string
}

// Files is `.Files`: the chart's files outside templates/.
type Files map[string][]byte

func (f Files) Get(name string) string      { return string(f[name]) }
func (f Files) GetBytes(name string) []byte { return f[name] }
func (f Files) Lines(name string) []string {
	s := string(f[name])
	if s == "" {
		return []string{}
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

// The API versions a Kubernetes 1.30 cluster serves (what `helm template` assumes without a
// cluster), extended with --api-versions.
var defaultAPIVersions = []string{
	"v1", "admissionregistration.k8s.io/v1", "apiextensions.k8s.io/v1", "apiregistration.k8s.io/v1",
	"apps/v1", "authentication.k8s.io/v1", "authorization.k8s.io/v1", "autoscaling/v1", "autoscaling/v2",
	"batch/v1", "certificates.k8s.io/v1", "coordination.k8s.io/v1", "discovery.k8s.io/v1",
	"events.k8s.io/v1", "flowcontrol.apiserver.k8s.io/v1", "flowcontrol.apiserver.k8s.io/v1beta3",
	"networking.k8s.io/v1", "node.k8s.io/v1", "policy/v1", "rbac.authorization.k8s.io/v1",
	"scheduling.k8s.io/v1", "storage.k8s.io/v1",
}

// Helm's install order of kinds; others come after, hooks last.
var installOrder = []string{
	"PriorityClass", "Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange", "PodSecurityPolicy",
	"PodDisruptionBudget", "ServiceAccount", "Secret", "SecretList", "ConfigMap", "StorageClass",
	"PersistentVolume", "PersistentVolumeClaim", "CustomResourceDefinition", "ClusterRole",
	"ClusterRoleList", "ClusterRoleBinding", "ClusterRoleBindingList", "Role", "RoleList", "RoleBinding",
	"RoleBindingList", "Service", "DaemonSet", "Pod", "ReplicationController", "ReplicaSet", "Deployment",
	"HorizontalPodAutoscaler", "StatefulSet", "Job", "CronJob", "IngressClass", "Ingress", "APIService",
}

func main() {
	var valueFiles, apiVersions multiFlag
	flag.Var(&valueFiles, "f", "a values file (repeatable; later files win)")
	flag.Var(&valueFiles, "values", "same as -f")
	flag.Var(&apiVersions, "api-versions", "an extra API version for .Capabilities.APIVersions (repeatable)")
	name := flag.String("name", "dossier", "release name")
	namespace := flag.String("namespace", "default", "release namespace")
	upgrade := flag.Bool("upgrade", false, "render as an upgrade (.Release.IsUpgrade)")
	revision := flag.Int("revision", 1, "release revision")
	kubeVersion := flag.String("kube-version", "v1.30.0", "Kubernetes version for .Capabilities")
	output := flag.String("output", "yaml", "yaml or json")
	valuesOut := flag.String("values-out", "", "write the merged values as JSON to this file")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: render [flags] CHART_DIR")
		os.Exit(2)
	}
	out, merged, err := render(flag.Arg(0), valueFiles, options{
		release: Release{Name: *name, Namespace: *namespace, Service: "Helm", IsInstall: !*upgrade,
			IsUpgrade: *upgrade, Revision: *revision},
		kubeVersion: *kubeVersion,
		apiVersions: apiVersions,
		output:      *output,
	})
	if *valuesOut != "" && merged != nil {
		data, jerr := json.MarshalIndent(merged, "", "  ")
		if jerr == nil {
			jerr = os.WriteFile(*valuesOut, data, 0o644)
		}
		if jerr != nil {
			fmt.Fprintf(os.Stderr, "Error: writing %s: %v\n", *valuesOut, jerr)
			os.Exit(1)
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "Error: %v\n", err)
		os.Exit(1)
	}
	os.Stdout.Write(out)
}

type options struct {
	release     Release
	kubeVersion string
	apiVersions []string
	output      string
}

type document struct {
	Source string      `json:"source"`
	Hook   string      `json:"hook,omitempty"`
	Object interface{} `json:"object"`
	text   string
	kind   string
}

func render(chartDir string, valueFiles []string, opts options) ([]byte, map[string]interface{}, error) {
	meta, err := loadChart(chartDir)
	if err != nil {
		return nil, nil, err
	}
	kv, err := parseKubeVersion(opts.kubeVersion)
	if err != nil {
		return nil, nil, err
	}
	if meta.KubeVersion != "" {
		constraint, cerr := sv.NewConstraint(meta.KubeVersion)
		if cerr != nil {
			return nil, nil, fmt.Errorf("Chart.yaml: kubeVersion %q: %v", meta.KubeVersion, cerr)
		}
		version, verr := sv.NewVersion(kv.Version)
		if verr != nil {
			return nil, nil, verr
		}
		if !constraint.Check(version) {
			return nil, nil, fmt.Errorf("chart requires kubeVersion %s which is incompatible with Kubernetes %s",
				meta.KubeVersion, kv.Version)
		}
	}

	values, err := readValues(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		return nil, nil, err
	}
	for _, f := range valueFiles {
		user, uerr := readValues(f)
		if uerr != nil {
			return nil, nil, uerr
		}
		values = coalesce(values, user)
	}

	files, templates, err := readChartFiles(chartDir, meta.Name)
	if err != nil {
		return nil, values, err
	}

	top := map[string]interface{}{
		"Values":  values,
		"Release": opts.release,
		"Chart":   meta,
		"Capabilities": Capabilities{
			KubeVersion: kv,
			APIVersions: append(append(VersionSet{}, defaultAPIVersions...), opts.apiVersions...),
			HelmVersion: map[string]string{"Version": "v3.15.0"},
		},
		"Files":     files,
		"Subcharts": map[string]interface{}{},
	}

	rendered, err := execute(templates, top, meta.Name)
	if err != nil {
		return nil, values, err
	}

	var docs []document
	names := make([]string, 0, len(rendered))
	for n := range rendered {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		split, serr := splitDocuments(n, rendered[n])
		if serr != nil {
			return nil, values, serr
		}
		docs = append(docs, split...)
	}
	sortForInstall(docs)

	if opts.output == "json" {
		out, jerr := json.MarshalIndent(map[string]interface{}{"values": values, "documents": docs}, "", "  ")
		return append(out, '\n'), values, jerr
	}
	var buf bytes.Buffer
	for _, d := range docs {
		fmt.Fprintf(&buf, "---\n# Source: %s\n%s\n", d.Source, d.text)
	}
	return buf.Bytes(), values, nil
}

func loadChart(dir string) (ChartMeta, error) {
	data, err := os.ReadFile(filepath.Join(dir, "Chart.yaml"))
	if err != nil {
		return ChartMeta{}, err
	}
	var c chartFile
	if err := yaml.Unmarshal(data, &c); err != nil {
		return ChartMeta{}, fmt.Errorf("Chart.yaml: %v", err)
	}
	if c.APIVersion != "v2" {
		return ChartMeta{}, fmt.Errorf("Chart.yaml: apiVersion must be v2, not %q", c.APIVersion)
	}
	if c.Name == "" || c.Version == "" {
		return ChartMeta{}, errors.New("Chart.yaml: name and version are required")
	}
	if _, err := sv.StrictNewVersion(c.Version); err != nil {
		return ChartMeta{}, fmt.Errorf("Chart.yaml: version %q is not SemVer 2: %v", c.Version, err)
	}
	return ChartMeta{
		APIVersion: c.APIVersion, Name: c.Name, Version: c.Version, AppVersion: c.AppVersion,
		Description: c.Description, Type: c.Type, KubeVersion: c.KubeVersion, Home: c.Home, Icon: c.Icon,
		Keywords: c.Keywords, Sources: c.Sources, Annotations: c.Annotations, Deprecated: c.Deprecated,
		Dependencies: c.Dependencies, Maintainers: c.Maintainers,
	}, nil
}

func parseKubeVersion(v string) (KubeVersion, error) {
	version, err := sv.NewVersion(v)
	if err != nil {
		return KubeVersion{}, fmt.Errorf("--kube-version %q: %v", v, err)
	}
	s := "v" + version.String()
	return KubeVersion{Version: s, GitVersion: s, Major: strconv.FormatUint(version.Major(), 10),
		Minor: strconv.FormatUint(version.Minor(), 10)}, nil
}

// readValues loads a values file as Helm does: YAML to JSON to Go, so numbers are float64.
func readValues(file string) (map[string]interface{}, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var raw interface{}
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("%s: %v", file, err)
	}
	if raw == nil {
		return map[string]interface{}{}, nil
	}
	plain, err := jsonCompatible(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", file, err)
	}
	encoded, err := json.Marshal(plain)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", file, err)
	}
	var out map[string]interface{}
	if err := json.Unmarshal(encoded, &out); err != nil {
		return nil, fmt.Errorf("%s: the top level must be a map: %v", file, err)
	}
	return out, nil
}

// jsonCompatible turns YAML's map[interface{}]interface{} (non-string keys) into string keys.
func jsonCompatible(v interface{}) (interface{}, error) {
	switch t := v.(type) {
	case map[string]interface{}:
		out := make(map[string]interface{}, len(t))
		for k, x := range t {
			c, err := jsonCompatible(x)
			if err != nil {
				return nil, err
			}
			out[k] = c
		}
		return out, nil
	case map[interface{}]interface{}:
		out := make(map[string]interface{}, len(t))
		for k, x := range t {
			c, err := jsonCompatible(x)
			if err != nil {
				return nil, err
			}
			out[fmt.Sprint(k)] = c
		}
		return out, nil
	case []interface{}:
		out := make([]interface{}, len(t))
		for i, x := range t {
			c, err := jsonCompatible(x)
			if err != nil {
				return nil, err
			}
			out[i] = c
		}
		return out, nil
	default:
		return v, nil
	}
}

// coalesce merges user values over the chart's as Helm does: maps merge key by key, anything
// else is replaced, and a null removes the key.
func coalesce(base, user map[string]interface{}) map[string]interface{} {
	out := make(map[string]interface{}, len(base))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range user {
		if v == nil {
			delete(out, k)
			continue
		}
		bm, bok := out[k].(map[string]interface{})
		um, uok := v.(map[string]interface{})
		if bok && uok {
			out[k] = coalesce(bm, um)
		} else {
			if bok && !uok {
				fmt.Fprintf(os.Stderr, "warning: %s: a map in the chart's values is overwritten by a %T\n", k, v)
			}
			out[k] = v
		}
	}
	return out
}

func readChartFiles(dir, chartName string) (Files, map[string]string, error) {
	files := Files{}
	templates := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if rel == "charts" {
				return fmt.Errorf("subcharts are not supported")
			}
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if strings.HasPrefix(rel, "templates/") {
			templates[path.Join(chartName, rel)] = string(data)
		} else if rel != "Chart.yaml" && rel != "values.yaml" && rel != "values.schema.json" && rel != ".helmignore" {
			files[rel] = data
		}
		return nil
	})
	return files, templates, err
}

const recursionMax = 1000

// execute parses every template into one set and runs each that does not start with `_`.
func execute(sources map[string]string, top map[string]interface{}, chartName string) (map[string]string, error) {
	t := template.New("gotpl").Option("missingkey=error")
	funcs := funcMap()
	included := map[string]int{}
	funcs["include"] = func(name string, data interface{}) (string, error) {
		if included[name] > recursionMax {
			return "", fmt.Errorf("rendering template has a nested reference name: %s", name)
		}
		included[name]++
		defer func() { included[name]-- }()
		var buf strings.Builder
		err := t.ExecuteTemplate(&buf, name, data)
		return buf.String(), err
	}
	funcs["tpl"] = func(text string, data interface{}) (string, error) {
		clone, err := t.Clone()
		if err != nil {
			return "", err
		}
		name := "tpl"
		if m, ok := data.(map[string]interface{}); ok {
			if info, ok := m["Template"].(TemplateInfo); ok {
				name = info.Name
			}
		}
		tt, err := clone.New(name).Parse(text)
		if err != nil {
			return "", fmt.Errorf("cannot parse template %q: %v", text, err)
		}
		var buf strings.Builder
		if err := tt.Execute(&buf, data); err != nil {
			return "", fmt.Errorf("error during tpl function execution for %q: %v", text, err)
		}
		return strings.ReplaceAll(buf.String(), "<no value>", ""), nil
	}
	t.Funcs(funcs)

	names := make([]string, 0, len(sources))
	for n := range sources {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if _, err := t.New(n).Parse(sources[n]); err != nil {
			return nil, fmt.Errorf("parse error: %v", err)
		}
	}
	out := map[string]string{}
	basePath := path.Join(chartName, "templates")
	for _, n := range names {
		base := path.Base(n)
		if strings.HasPrefix(base, "_") || strings.HasSuffix(base, ".txt") {
			continue
		}
		data := make(map[string]interface{}, len(top)+1)
		for k, v := range top {
			data[k] = v
		}
		data["Template"] = TemplateInfo{Name: n, BasePath: basePath}
		var buf strings.Builder
		if err := t.ExecuteTemplate(&buf, n, data); err != nil {
			return nil, cleanError(err)
		}
		out[n] = strings.ReplaceAll(buf.String(), "<no value>", "")
	}
	return out, nil
}

var failPattern = regexp.MustCompile(`error calling (fail|required): `)

// cleanError shortens text/template's wrapping of fail/required like Helm does.
func cleanError(err error) error {
	msg := err.Error()
	if loc := failPattern.FindStringIndex(msg); loc != nil {
		return fmt.Errorf("execution error at (%s): %s", strings.TrimSuffix(strings.SplitN(msg, ": ", 3)[1], ":"), msg[loc[1]:])
	}
	return err
}

func funcMap() template.FuncMap {
	f := sprig.TxtFuncMap()
	delete(f, "env")
	delete(f, "expandenv")
	f["toYaml"] = toYaml
	f["fromYaml"] = fromYaml
	f["fromYamlArray"] = fromYamlArray
	f["toJson"] = toJSON
	f["fromJson"] = fromJSON
	f["fromJsonArray"] = fromJSONArray
	f["required"] = func(warn string, val interface{}) (interface{}, error) {
		if val == nil {
			return val, errors.New(warn)
		}
		if s, ok := val.(string); ok && s == "" {
			return val, errors.New(warn)
		}
		return val, nil
	}
	f["fail"] = func(msg string) (string, error) { return "", errors.New(msg) }
	f["lookup"] = func(apiVersion, kind, namespace, name string) (map[string]interface{}, error) {
		return map[string]interface{}{}, nil
	}
	// Filled in by execute, which has the template set.
	f["include"] = func(string, interface{}) (string, error) { return "", nil }
	f["tpl"] = func(string, interface{}) (string, error) { return "", nil }
	return f
}

// toYaml is Helm's: through JSON (so numbers print as JSON does), no trailing newline.
func toYaml(v interface{}) string {
	plain, err := viaJSON(v)
	if err != nil {
		return ""
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(plain); err != nil {
		return ""
	}
	enc.Close()
	return strings.TrimSuffix(buf.String(), "\n")
}

// viaJSON makes a value what sigs.k8s.io/yaml would marshal: JSON numbers as int64 when whole.
func viaJSON(v interface{}) (interface{}, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var out interface{}
	if err := dec.Decode(&out); err != nil {
		return nil, err
	}
	return numbers(out), nil
}

func numbers(v interface{}) interface{} {
	switch t := v.(type) {
	case map[string]interface{}:
		for k, x := range t {
			t[k] = numbers(x)
		}
		return t
	case []interface{}:
		for i, x := range t {
			t[i] = numbers(x)
		}
		return t
	case json.Number:
		if i, err := t.Int64(); err == nil {
			return i
		}
		f, _ := t.Float64()
		return f
	default:
		return v
	}
}

func fromYaml(s string) map[string]interface{} {
	var raw interface{}
	if err := yaml.Unmarshal([]byte(s), &raw); err != nil {
		return map[string]interface{}{"Error": err.Error()}
	}
	plain, err := jsonCompatible(raw)
	if err != nil {
		return map[string]interface{}{"Error": err.Error()}
	}
	m, ok := plain.(map[string]interface{})
	if !ok {
		if plain == nil {
			return map[string]interface{}{}
		}
		return map[string]interface{}{"Error": "not a map"}
	}
	return m
}

func fromYamlArray(s string) []interface{} {
	var raw interface{}
	if err := yaml.Unmarshal([]byte(s), &raw); err != nil {
		return []interface{}{err.Error()}
	}
	plain, _ := jsonCompatible(raw)
	a, _ := plain.([]interface{})
	return a
}

func toJSON(v interface{}) string {
	data, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(data)
}

func fromJSON(s string) map[string]interface{} {
	m := map[string]interface{}{}
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		m["Error"] = err.Error()
	}
	return m
}

func fromJSONArray(s string) []interface{} {
	var a []interface{}
	if err := json.Unmarshal([]byte(s), &a); err != nil {
		return []interface{}{err.Error()}
	}
	return a
}

var separator = regexp.MustCompile(`(?m)^---[ \t]*(#.*)?$`)

// splitDocuments cuts a rendered file at `---` lines, drops empty documents and parses the
// rest (a document that is not valid YAML, or not a Kubernetes object, is an error).
func splitDocuments(source, text string) ([]document, error) {
	var docs []document
	for i, part := range separator.Split(text, -1) {
		if isEmptyDocument(part) {
			continue
		}
		var raw interface{}
		if err := yaml.Unmarshal([]byte(part), &raw); err != nil {
			return nil, fmt.Errorf("%s (document %d): YAML parse error: %v\n%s", source, i, err, numbered(part))
		}
		plain, err := jsonCompatible(raw)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", source, err)
		}
		obj, ok := plain.(map[string]interface{})
		if !ok {
			return nil, fmt.Errorf("%s (document %d): not a map", source, i)
		}
		kind, _ := obj["kind"].(string)
		if kind == "" || obj["apiVersion"] == nil {
			return nil, fmt.Errorf("%s (document %d): apiVersion and kind are required", source, i)
		}
		hook := ""
		if md, ok := obj["metadata"].(map[string]interface{}); ok {
			if ann, ok := md["annotations"].(map[string]interface{}); ok {
				if h, ok := ann["helm.sh/hook"].(string); ok {
					hook = h
				}
			}
		}
		docs = append(docs, document{Source: source, Hook: hook, Object: obj,
			text: strings.Trim(part, "\n"), kind: kind})
	}
	return docs, nil
}

func isEmptyDocument(s string) bool {
	for _, line := range strings.Split(s, "\n") {
		l := strings.TrimSpace(line)
		if l != "" && !strings.HasPrefix(l, "#") {
			return false
		}
	}
	return true
}

func numbered(s string) string {
	var b strings.Builder
	for i, l := range strings.Split(s, "\n") {
		fmt.Fprintf(&b, "%4d | %s\n", i+1, l)
	}
	return b.String()
}

func sortForInstall(docs []document) {
	rank := func(d document) int {
		if d.Hook != "" {
			return len(installOrder) + 1
		}
		for i, k := range installOrder {
			if k == d.kind {
				return i
			}
		}
		return len(installOrder)
	}
	sort.SliceStable(docs, func(i, j int) bool { return rank(docs[i]) < rank(docs[j]) })
}
