#!/usr/bin/env bash
# Renders every overlay under compose/k8s/overlays with kustomize and validates the output:
#
#   1. schema:   kubeconform -strict against the Kubernetes JSON schemas, offline. The schemas
#                come from the `kubernetes-validate` wheel on PyPI (the same generated
#                schemas kubeconform downloads by default), turned into a local schema
#                directory by check_manifests.py. If they cannot be had, kubeconform's default
#                online location is tried; if that is unreachable too, this step is SKIPPED
#                and the summary says so.
#   2. policy:   structural rules (check_manifests.py policy): resources and probes, security
#                contexts, no credentials outside Secrets, references that resolve, stream
#                workers <= partitions, migration Job in the pre-deploy phase, ...
#   3. settings: every PAYSTREAM_* key of the rendered ConfigMap/Secret is a real setting of
#                paystream/settings.py and the values load (needs the project's .venv).
#   4. secrets:  no Secret manifest committed, every secretGenerator env file git-ignored and
#                documented by a committed .example.
#
# Overlays are rendered from a temporary copy of compose/k8s in which each git-ignored
# secrets file is replaced by its committed .example, so real secret values are never read.
#
# Tools are installed when missing (Go module proxy, into .cache/bin; PyPI for the schemas,
# into .cache/k8s). Usage: bash compose/k8s/validate.sh
#   K8S_VERSION=1.32.0                    Kubernetes version to validate against
#   KUBERNETES_VALIDATE_VERSION=1.37.0    the PyPI wheel the schemas come from
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
bin="$repo/.cache/bin"
cache="$repo/.cache/k8s"
k8s_version=${K8S_VERSION:-1.32.0}
kv_version=${KUBERNETES_VALIDATE_VERSION:-1.37.0}
# `latest` may need a newer Go than this machine has (kustomize v5.8.3 wants Go 1.27), so
# known-good pins follow it.
kustomize_versions=(latest v5.8.2 v5.7.1)
kubeconform_versions=(latest v0.8.0 v0.7.0)
export PATH="$bin:$PATH"

say() { printf '%s\n' "$*"; }
die() {
    printf 'validate.sh: FAILED: %s\n' "$*" >&2
    exit 1
}

# ------------------------------------------------------------------------------ python
if [ -x "$repo/.venv/bin/python" ]; then
    python="$repo/.venv/bin/python"
elif command -v python3 >/dev/null; then
    python=$(command -v python3)
else
    die "no Python found (run 'make bootstrap' to create .venv)"
fi
"$python" -c 'import yaml' 2>/dev/null ||
    die "$python has no PyYAML (run 'make bootstrap', or: $python -m pip install pyyaml)"

# ------------------------------------------------------------------------------ tools
go_install() { # module version...: the first version that builds wins
    local module=$1 version
    shift
    command -v go >/dev/null || return 1
    mkdir -p "$bin"
    for version in "$@"; do
        say "installing $module@$version into .cache/bin (go install) ..."
        if GOBIN="$bin" GOFLAGS=-buildvcs=false GOTOOLCHAIN=local nice go install "$module@$version"; then
            return 0
        fi
        say "  $module@$version did not build here; trying the next pin"
    done
    return 1
}

tool_version() { # a go-installed binary's module version
    go version -m "$1" 2>/dev/null | awk '$1 == "mod" { print $3; exit }'
}

if command -v kustomize >/dev/null || go_install sigs.k8s.io/kustomize/kustomize/v5 "${kustomize_versions[@]}"; then
    render=("$(command -v kustomize)" build)
    renderer="kustomize $(tool_version "${render[0]}") (${render[0]/#$repo\//})"
elif command -v kubectl >/dev/null; then
    render=(kubectl kustomize)
    renderer="kubectl kustomize (kubectl's built-in kustomize: the kustomize binary could not be installed)"
else
    die "kustomize is missing and could not be installed: it needs Go (go install sigs.k8s.io/kustomize/kustomize/v5@<version>, GOBIN=.cache/bin) or kubectl"
fi

command -v kubeconform >/dev/null || go_install github.com/yannh/kubeconform/cmd/kubeconform "${kubeconform_versions[@]}" ||
    die "kubeconform is missing and could not be installed: it needs Go and the Go module proxy (go install github.com/yannh/kubeconform/cmd/kubeconform@<version>, GOBIN=.cache/bin)"
kubeconform=$(command -v kubeconform)

# ------------------------------------------------------------------------------ schemas
schema_root="$cache/schemas/kubernetes-validate-$kv_version"
schema_dir="$schema_root/v$k8s_version-standalone-strict"
schema_location=""
schema_source=""
if [ ! -d "$schema_dir" ]; then
    wheel=$(ls "$cache"/wheels/kubernetes_validate-"$kv_version"-*.whl 2>/dev/null | head -n 1 || true)
    if [ -z "$wheel" ]; then
        say "fetching Kubernetes JSON schemas: kubernetes-validate==$kv_version from PyPI ..."
        "$python" -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
            -d "$cache/wheels" "kubernetes-validate==$kv_version" ||
            say "  could not download kubernetes-validate==$kv_version"
        wheel=$(ls "$cache"/wheels/kubernetes_validate-"$kv_version"-*.whl 2>/dev/null | head -n 1 || true)
    fi
    if [ -n "$wheel" ]; then
        rm -rf "$schema_dir.partial"
        "$python" "$here/check_manifests.py" schemas "$wheel" "$k8s_version" "$schema_dir" ||
            say "  could not build the schema directory from $wheel"
    fi
fi
if [ -d "$schema_dir" ]; then
    schema_location="$schema_root/{{.NormalizedKubernetesVersion}}-standalone{{.StrictSuffix}}/{{.ResourceKind}}{{.KindSuffix}}.json"
    schema_source="Kubernetes $k8s_version JSON schemas (strict) from PyPI kubernetes-validate $kv_version, offline (${schema_dir/#$repo\//})"
elif curl -fsS -m 10 -o /dev/null \
    "https://raw.githubusercontent.com/yannh/kubernetes-json-schema/master/v$k8s_version-standalone-strict/deployment-apps-v1.json" 2>/dev/null; then
    schema_location=default
    schema_source="Kubernetes $k8s_version JSON schemas (strict), downloaded by kubeconform"
fi

# ------------------------------------------------------------------------------ render
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -R "$here" "$work/k8s"
# Never read real secrets: drop them from the copy, then stand in the committed examples.
find "$work/k8s" -type f \( -name secrets.env -o -name '*-secrets.env' \) -delete
find "$work/k8s" -type f -name '*.env.example' | while read -r example; do
    cp "$example" "${example%.example}"
done
mkdir -p "$work/rendered"

paystream_importable=false
if (cd "$repo" && PYTHONPATH="$repo" "$python" -c 'import paystream.settings') 2>/dev/null; then
    paystream_importable=true
fi

failed=()
passed=()
for overlay_dir in "$here"/overlays/*/; do
    overlay=$(basename "$overlay_dir")
    out="$work/rendered/$overlay.yaml"
    say ""
    say "== overlay $overlay"
    if ! "${render[@]}" "$work/k8s/overlays/$overlay" >"$out"; then
        say "  render: FAILED"
        failed+=("$overlay")
        continue
    fi
    say "  render: ok ($(grep -c '^kind:' "$out") objects)"
    ok=true
    if [ -n "$schema_location" ]; then
        say "  schema (kubeconform -strict, Kubernetes $k8s_version):"
        if ! nice "$kubeconform" -strict -summary -n 2 -kubernetes-version "$k8s_version" \
            -schema-location "$schema_location" "$out" | sed "s#$out#$overlay#; s/^/    /"; then
            ok=false
        fi
    else
        say "  schema: SKIPPED (no schemas offline, schema host unreachable)"
    fi
    "$python" "$here/check_manifests.py" policy "$overlay" "$out" || ok=false
    if $paystream_importable; then
        (cd "$repo" && PYTHONPATH="$repo" "$python" "$here/check_manifests.py" settings "$out") || ok=false
    else
        say "  settings: SKIPPED (paystream is not importable with $python; run 'make bootstrap')"
    fi
    if $ok; then passed+=("$overlay"); else failed+=("$overlay"); fi
done

say ""
say "== repository"
"$python" "$here/check_manifests.py" tree "$here" || failed+=("secrets-in-repo")

say ""
say "== summary"
say "renderer: $renderer"
if [ -n "$schema_location" ]; then
    say "schema:   kubeconform $(tool_version "$kubeconform") -strict against $schema_source"
else
    say "schema:   NOT RUN: no Kubernetes JSON schemas could be had offline (PyPI kubernetes-validate) or online; only the structural checks below ran"
fi
say "policy:   structural checks of check_manifests.py (resources, probes, securityContext, references, no inline secrets, workers <= partitions, ordering labels)"
if $paystream_importable; then
    say "settings: PAYSTREAM_* keys checked against paystream/settings.py"
else
    say "settings: NOT RUN (paystream not importable)"
fi
if [ "${#failed[@]}" -gt 0 ]; then
    say "result:   FAILED (${failed[*]})"
    exit 1
fi
if [ -n "$schema_location" ]; then
    say "result:   PASSED (${passed[*]})"
else
    say "result:   PASSED (${passed[*]}), structural checks only: schema validation NOT RUN"
fi
