#!/usr/bin/env bash
# Builds a release tarball: the optimised `roster` binary, the dashboard's built site, the
# systemd unit and an example settings file, in target/dist/roster-<version>-<commit>-<arch>.tar.gz
# (with its .sha256). Install it as README's "Deployment" says.
source "$(dirname "$0")/lib.sh"

ensure_rust_tools
build_release

version="$(awk -F'"' '/^version = / { print $2; exit }' Cargo.toml)"
commit="$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)"
name="roster-${version}-${commit}-$(uname -m)-linux"
stage="target/dist/${name}"
rm -rf "$stage"
mkdir -p "$stage/bin" "$stage/site" "$stage/deploy"
cp target/release/roster "$stage/bin/"
# The dashboard reads the asset names (content hashes) from hash.txt next to the binary.
cp target/release/hash.txt "$stage/bin/"
# Only this build's site files (release_site_files), not the earlier builds' the folder keeps.
(cd "$RELEASE_SITE_ROOT" && find . -path ./pkg -prune -o -type f -print) | while read -r f; do
  mkdir -p "$stage/site/$(dirname "$f")" && cp "$RELEASE_SITE_ROOT/$f" "$stage/site/$f"
done
mkdir -p "$stage/site/pkg"
while read -r f; do
  [ -e "$RELEASE_SITE_ROOT/pkg/$f" ] || { echo "release: $f (named by this build) is missing" >&2; exit 1; }
  for g in "$f" "$f.br" "$f.gz"; do
    if [ -e "$RELEASE_SITE_ROOT/pkg/$g" ]; then cp "$RELEASE_SITE_ROOT/pkg/$g" "$stage/site/pkg/"; fi
  done
done < <(release_site_files)
cp deploy/roster.service deploy/roster.env.example "$stage/deploy/"
cp README.md "$stage/"
"$stage/bin/roster" --version >"$stage/VERSION"
tar -C target/dist -czf "target/dist/${name}.tar.gz" "$name"
(cd target/dist && sha256sum "${name}.tar.gz" >"${name}.tar.gz.sha256")
say "built target/dist/${name}.tar.gz ($(du -h "target/dist/${name}.tar.gz" | cut -f1)): $(cat "$stage/VERSION")"
