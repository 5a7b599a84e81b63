#!/usr/bin/env bash
# Renders every overlay under compose/k8s/overlays with kustomize and validates the output:
#
#   1. schema:   kubeconform -strict against the Kubernetes JSON schemas, offline. The schemas
#                come from the `kubernetes-validate` wheel on PyPI (the same generated
#                schemas kubeconform downloads by default), turned into a local schema
#                directory by build_schemas.py. If they cannot be had, kubeconform's default
#                online location is tried; if that is unreachable too, this step is SKIPPED
#                and the summary says so.
#   2. policy:   structural rules (check_manifests.py policy): resources and probes, security
#                contexts, no credentials outside Secrets, references that resolve, consumer
#                groups (stream workers, risk agents) <= partitions, Spark CronJobs through
#                spark/submit.sh, migration Job in the pre-deploy phase, ...
#   3. app:      every PAYSTREAM_* key of the rendered ConfigMap/Secret is a real setting of
#                paystream/settings.py and the values load; every `paystream ...` command a
#                container runs parses as a real CLI command (scripts/check_k8s_app.py; needs .venv).
#   4. secrets:  no Secret manifest committed, every secretGenerator env file git-ignored and
#                documented by a committed .example.
#
# Overlays are rendered from a temporary copy of compose/k8s in which each git-ignored
# secrets file is replaced by its committed .example, so real secret values are never read.
#
# Tools are installed when missing, idempotently, inside the checkout: kustomize and
# kubeconform with `go install` from the Go module proxy into .cache/bin (module and build
# caches in .cache/go), the schema wheel from PyPI into .cache/k8s. Cold (nothing cached) this
# takes a few minutes, mostly compiling kustomize; cached it takes seconds. Run by `make lint`.
# Usage: bash compose/k8s/validate.sh
#   K8S_VERSION=1.32.0                    Kubernetes version to validate against
#   KUBERNETES_VALIDATE_VERSION=1.37.0    the PyPI wheel the schemas come from
#   KUSTOMIZE_VERSION=v5.8.2              kustomize release (v5.8.3 needs Go 1.27)
#   KUBECONFORM_VERSION=v0.8.0            kubeconform release
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
bin="$repo/.cache/bin"
cache="$repo/.cache/k8s"
k8s_version=${K8S_VERSION:-1.32.0}
kv_version=${KUBERNETES_VALIDATE_VERSION:-1.37.0}
# Pinned, so that CI renders with the same kustomize everywhere; the second entry is tried
# when the first does not build with this machine's Go.
kustomize_versions=("${KUSTOMIZE_VERSION:-v5.8.2}" v5.7.1)
kubeconform_versions=("${KUBECONFORM_VERSION:-v0.8.0}" v0.7.0)
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
have_go=false
command -v go >/dev/null && have_go=true

tool_version() { # a go-installed binary's module version (empty without Go)
    $have_go && go version -m "$1" 2>/dev/null | awk '$1 == "mod" { print $3; exit }'
}

go_install() { # module version...: the first version that builds wins
    local module=$1 version
    shift
    $have_go || return 1
    mkdir -p "$bin" "$repo/.cache/go"
    for version in "$@"; do
        say "installing $module@$version into .cache/bin (go install; once, then cached) ..."
        # GOTOOLCHAIN=local: never download another Go; -modcacherw: `rm -rf .cache` works.
        if GOBIN="$bin" GOMODCACHE="$repo/.cache/go/mod" GOCACHE="$repo/.cache/go/build" \
            GOFLAGS="-buildvcs=false -modcacherw" GOTOOLCHAIN=local \
            nice go install "$module@$version"; then
            # The compiled packages (~300 MB) only serve another install; the binary is kept.
            rm -rf "$repo/.cache/go/build"
            return 0
        fi
        say "  $module@$version did not build here; trying the next pin"
    done
    return 1
}

ensure_tool() { # name module versions...: the pinned binary in .cache/bin, installed if missing
    local name=$1 module=$2
    shift 2
    local have
    if [ -x "$bin/$name" ]; then
        have=$(tool_version "$bin/$name" || true)
        # Keep it when it is one of the pins (or when, without Go, it cannot be checked).
        if [ -z "$have" ] || [[ " $* " == *" $have "* ]]; then
            return 0
        fi
        say "$name $have in .cache/bin is not a pinned version ($*): reinstalling"
    fi
    go_install "$module" "$@"
}

if ensure_tool kustomize sigs.k8s.io/kustomize/kustomize/v5 "${kustomize_versions[@]}"; then
    render=("$bin/kustomize" build)
    renderer="kustomize $(tool_version "$bin/kustomize" || true) (.cache/bin/kustomize)"
elif command -v kustomize >/dev/null; then
    render=("$(command -v kustomize)" build)
    renderer="kustomize from PATH ($(command -v kustomize); the pinned one could not be installed)"
elif command -v kubectl >/dev/null; then
    render=(kubectl kustomize)
    renderer="kubectl kustomize (kubectl's built-in kustomize: the pinned one could not be installed)"
elif $have_go; then
    die "kustomize could not be installed: 'go install sigs.k8s.io/kustomize/kustomize/v5@${kustomize_versions[0]}' failed (is the Go module proxy reachable? GOPROXY=$(go env GOPROXY)); see the output above"
else
    die "kustomize is missing and Go is not installed to build it: install Go >= 1.26 (https://go.dev/dl/) or put kustomize (or kubectl) on PATH"
fi

if ensure_tool kubeconform github.com/yannh/kubeconform/cmd/kubeconform "${kubeconform_versions[@]}"; then
    kubeconform="$bin/kubeconform"
elif command -v kubeconform >/dev/null; then
    kubeconform=$(command -v kubeconform)
elif $have_go; then
    die "kubeconform could not be installed: 'go install github.com/yannh/kubeconform/cmd/kubeconform@${kubeconform_versions[0]}' failed (is the Go module proxy reachable?); see the output above"
else
    die "kubeconform is missing and Go is not installed to build it: install Go >= 1.26 or put kubeconform on PATH"
fi

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
        "$python" "$here/build_schemas.py" "$wheel" "$k8s_version" "$schema_dir" ||
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
find "$work/k8s" -type f \( -name secrets.env -o -name '*-secrets.env' -o -name mlflow-auth.ini \) -delete
find "$work/k8s" -type f \( -name '*.env.example' -o -name '*.ini.example' \) | while read -r example; do
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
        (cd "$repo" && PYTHONPATH="$repo" "$python" -m scripts.check_k8s_app settings "$out") || ok=false
        (cd "$repo" && PYTHONPATH="$repo" "$python" -m scripts.check_k8s_app commands "$out") || ok=false
    else
        say "  settings, commands: SKIPPED (paystream is not importable with $python; run 'make bootstrap')"
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
    say "schema:   kubeconform $(tool_version "$kubeconform" || true) -strict against $schema_source"
else
    say "schema:   NOT RUN: no Kubernetes JSON schemas could be had offline (PyPI kubernetes-validate) or online; only the structural checks below ran"
fi
say "policy:   structural checks of check_manifests.py (resources, probes, securityContext, references, no inline secrets, consumer groups <= partitions, Spark CronJobs, ordering labels)"
if $paystream_importable; then
    say "app:      PAYSTREAM_* keys checked against paystream/settings.py; paystream commands parsed by the CLI"
else
    say "app:      NOT RUN (paystream not importable)"
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
