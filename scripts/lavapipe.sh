#!/usr/bin/env bash
# Mesa's software Vulkan driver (lavapipe) for the WebGPU provider's test on a host without a GPU
# (CI): onnxruntime's WebGPU provider (Dawn) refuses bookworm's lavapipe 22.3 ("Vulkan
# shaderUniform*ArrayDynamicIndexing required") and takes bookworm-backports' 25.0. Only that
# driver is unpacked, into DIR (default .cache/lavapipe), from the backports package: nothing on
# the system changes. Its libraries are bookworm's (apt-get install mesa-vulkan-drivers brings
# them). Prints the ICD file to give the Vulkan loader: VK_ICD_FILENAMES="$(scripts/lavapipe.sh)".
set -euo pipefail
dir="$(mkdir -p "${1:-.cache/lavapipe}" && cd "${1:-.cache/lavapipe}" && pwd)"
lib="$dir/root/usr/lib/x86_64-linux-gnu/libvulkan_lvp.so"
if [ ! -f "$lib" ]; then
  mkdir -p "$dir/lists/partial" "$dir/archives/partial"
  echo 'deb http://deb.debian.org/debian bookworm-backports main' >"$dir/sources.list"
  apt=(-o "Dir::Etc::sourcelist=$dir/sources.list" -o Dir::Etc::sourceparts=- -o "Dir::State::Lists=$dir/lists" -o "Dir::Cache::archives=$dir/archives")
  apt-get "${apt[@]}" update -qq >&2
  (cd "$dir" && apt-get "${apt[@]}" download -t bookworm-backports mesa-vulkan-drivers >&2 2>/dev/null)
  dpkg-deb -x "$dir"/mesa-vulkan-drivers_*.deb "$dir/root"
fi
printf '{"file_format_version": "1.0.0", "ICD": {"library_path": "%s", "api_version": "1.3.0"}}\n' "$lib" >"$dir/lvp_icd.json"
echo "$dir/lvp_icd.json"
