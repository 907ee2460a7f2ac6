# Shared by scripts/run.sh and scripts/test.sh: install what Roster's build and tests need, if
# it is missing. Every step checks first, so running it twice does nothing the second time.
# shellcheck shell=bash

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

CARGO_LEPTOS_VERSION="0.3.10"
# The wasm-bindgen CLI must match the wasm-bindgen crate in Cargo.lock exactly.
WASM_BINDGEN_VERSION="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' Cargo.lock)"

# Debug builds of the dashboard use this flag (cargo-leptos' recommendation for fast debug
# builds); every cargo command here uses the same flags so that nothing is rebuilt twice.
export RUSTFLAGS="--cfg erase_components"
# What cargo-leptos passes to the compiler; tests build with the same, for the same reason.
export LEPTOS_OUTPUT_NAME=roster LEPTOS_SITE_ROOT=target/site LEPTOS_SITE_PKG_DIR=pkg \
  LEPTOS_SITE_ADDR=127.0.0.1:3000 LEPTOS_RELOAD_PORT=3001 LEPTOS_LIB_DIR=frontend \
  LEPTOS_BIN_DIR=server LEPTOS_JS_MINIFY=false LEPTOS_HASH_FILES=false
export PATH="$HOME/.cargo/bin:$PATH"

say() { printf '\033[1;34m==>\033[0m %s\n' "$*"; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

APT_UPDATED=0
apt_install() {
  if [ "$APT_UPDATED" = 0 ]; then
    say "apt-get update"
    as_root apt-get update -qq
    APT_UPDATED=1
  fi
  say "apt-get install $*"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# System libraries the build links: SAML signatures are checked by libxmlsec1 (samael's `xmlsec`
# feature, whose bindings bindgen makes with libclang), TLS for OIDC by OpenSSL.
ensure_build_libs() {
  local missing=() pkg
  for pkg in libxmlsec1-dev libxml2-dev libssl-dev pkg-config libclang-dev; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    apt_install "${missing[@]}"
  fi
}

ensure_rust_tools() {
  ensure_build_libs
  if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    say "adding the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
  fi
  if ! wasm-bindgen --version 2>/dev/null | grep -q " ${WASM_BINDGEN_VERSION}\$"; then
    say "installing wasm-bindgen-cli ${WASM_BINDGEN_VERSION} (a few minutes, once)"
    cargo install wasm-bindgen-cli --version "${WASM_BINDGEN_VERSION}"
  fi
  if ! cargo leptos --version 2>/dev/null | grep -q "${CARGO_LEPTOS_VERSION}"; then
    say "installing cargo-leptos ${CARGO_LEPTOS_VERSION} (about 20 minutes, once)"
    cargo install "cargo-leptos@${CARGO_LEPTOS_VERSION}" --locked
  fi
}

# The standard library's source, which the release wasm compiles again (build_release).
ensure_rust_src() {
  if ! rustup component list --installed 2>/dev/null | grep -q '^rust-src'; then
    say "adding the rust-src component (the release wasm builds the standard library for size)"
    rustup component add rust-src
  fi
}

# wasm-opt shrinks the release wasm. cargo-leptos would download Binaryen from GitHub (not
# reachable everywhere) and Debian's wasm-opt (108) breaks release hydration, so the npm build of
# Binaryen 132 is installed into target/tools and put first on PATH.
BINARYEN_VERSION="132"
ensure_wasm_opt() {
  local tools="$ROOT/target/tools"
  if ! "$tools/node_modules/.bin/wasm-opt" --version 2>/dev/null | grep -q "version ${BINARYEN_VERSION}"; then
    command -v npm >/dev/null || apt_install nodejs npm
    say "installing wasm-opt (npm binaryen@${BINARYEN_VERSION}, once)"
    mkdir -p "$tools"
    [ -f "$tools/package.json" ] || echo '{"private": true}' >"$tools/package.json"
    (cd "$tools" && npm install --no-audit --no-fund --loglevel=error "binaryen@${BINARYEN_VERSION}")
  fi
  export PATH="$tools/node_modules/.bin:$PATH"
}

# The release build of server and dashboard: optimised wasm (wasm-opt), files named by content
# hash and precompressed (brotli, gzip). It has a site folder of its own, so that a debug build
# (the tests) never replaces the files a running release server serves.
RELEASE_SITE_ROOT="target/site-release"
build_release() {
  ensure_wasm_opt
  ensure_zopfli
  # cargo-leptos runs wasm-bindgen and wasm-opt over every wasm file on each build, changed or
  # not (~100 s): when the checkout is exactly what the last release build was made from, and
  # what it made is still there, there is nothing to build.
  local stamp_file="target/release/.roster-release-stamp" stamp
  stamp="$(release_stamp)"
  if [ -n "$stamp" ] && [ -f "$stamp_file" ] && [ "$(cat "$stamp_file")" = "$stamp" ] && release_present; then
    say "the release build is up to date"
    return
  fi
  rm -f "$stamp_file"
  say "building the release build (optimised server and dashboard; the first build takes a while)"
  ensure_rust_src
  # The dashboard's wasm first, with the standard library compiled again for size: panics
  # abort without formatting a message (`-Cpanic=immediate-abort`), and neither panic
  # locations nor `Debug` output are kept (`-Zlocation-detail=none -Zfmt-debug=none`): the
  # main wasm goes from 299 to 264 KB gzip. These are unstable flags; RUSTC_BOOTSTRAP lets
  # the stable toolchain take them for this build alone (its own target dir, target/front;
  # nothing the tests build uses them). The price: a panic in the browser shows as
  # "RuntimeError: unreachable" without its message (the debug build keeps messages).
  RUSTC_BOOTSTRAP=1 RUSTFLAGS="$RUSTFLAGS -Zunstable-options -Cpanic=immediate-abort -Zlocation-detail=none -Zfmt-debug=none" \
    LEPTOS_SITE_ROOT="$RELEASE_SITE_ROOT" LEPTOS_HASH_FILES=true \
    cargo leptos build --release --precompress --split --frontend-only --lib-cargo-args=-Zbuild-std=std,panic_abort
  # Then the server, with the flags every other cargo command here uses.
  LEPTOS_SITE_ROOT="$RELEASE_SITE_ROOT" LEPTOS_HASH_FILES=true cargo leptos build --release --precompress --split --server-only
  recompress_site "$RELEASE_SITE_ROOT/pkg"
  [ -z "$stamp" ] || echo "$stamp" >"$stamp_file"
}

# What the release build is made from: the commit, the changes to tracked files and the content
# of untracked ones (empty outside a git checkout: then it always builds).
release_stamp() {
  git rev-parse --git-dir >/dev/null 2>&1 || return 0
  {
    git rev-parse HEAD
    git diff HEAD --binary
    git ls-files --others --exclude-standard -z | xargs -0 -r sha256sum
  } 2>/dev/null | sha256sum | cut -d' ' -f1
}

# The files in $RELEASE_SITE_ROOT/pkg that the last release build made (its site folder keeps
# earlier builds' too, for a server still running): those named in target/release/hash.txt and
# the wasm chunks the chunk loader (__wasm_split.<hash>.js) names. One name per line.
release_site_files() {
  local kind hash
  [ -f target/release/hash.txt ] || return 1
  while IFS=': ' read -r kind hash; do
    case "$kind" in
      js | wasm | css) echo "${LEPTOS_OUTPUT_NAME}.${hash}.${kind}" ;;
      manifest) echo "__wasm_split_manifest.${hash}.json" ;;
      split)
        echo "__wasm_split.${hash}.js"
        grep -o '"\./[A-Za-z0-9_.-]*\.wasm"' "$RELEASE_SITE_ROOT/pkg/__wasm_split.${hash}.js" 2>/dev/null |
          tr -d '"' | sed 's|^\./||' | sort -u ;;
    esac
  done <target/release/hash.txt
}

# Whether the binary and every site file of the last release build are there.
release_present() {
  local f
  [ -x target/release/roster ] || return 1
  while read -r f; do
    [ -f "$RELEASE_SITE_ROOT/pkg/$f" ] || return 1
  done < <(release_site_files || echo "hash.txt is missing")
}

# cargo-leptos gzips at a fast level (the main wasm: 472 KB); `gzip -9` gives 400 KB. Zopfli
# writes the same gzip format (any browser or client reads it) 4-5% smaller again than
# `gzip -9` (the main wasm 234.7 -> 224.3 KB), at ~2 s per MB, so only the files this build made
# are compressed (the folder keeps earlier builds' files for a server still running), two at a
# time, and each is decompressed and compared with its file before it replaces cargo-leptos'
# gzip. Without zopfli (a machine that cannot install it), `gzip -9`. Brotli (what browsers ask
# for first) is left as cargo-leptos wrote it.
recompress_site() {
  local dir="$1" compress="gzip -9 -n -c"
  if command -v zopfli >/dev/null 2>&1; then
    compress="zopfli -c"
  fi
  { release_site_files || true; } | while read -r f; do
    if [ -e "$dir/$f.gz" ]; then printf '%s\0' "$dir/$f"; fi
  done | COMPRESS="$compress" xargs -0 -r -n 1 -P 2 sh -c \
      '$COMPRESS "$1" >"$1.gz.tmp" && gzip -dc "$1.gz.tmp" | cmp -s - "$1" && mv "$1.gz.tmp" "$1.gz" ||
        { rm -f "$1.gz.tmp"; echo "$1: kept the gzip cargo-leptos wrote" >&2; }' sh
}

# Zopfli (see recompress_site): a Debian package, installed for the release build.
ensure_zopfli() {
  command -v zopfli >/dev/null 2>&1 || apt_install zopfli || say "zopfli could not be installed: gzip -9 it is"
}

ensure_test_tools() {
  local component
  for component in rustfmt clippy; do
    if ! rustup component list --installed 2>/dev/null | grep -q "^${component}"; then
      say "adding the ${component} component"
      rustup component add "${component}"
    fi
  done
  if ! cargo fuzz --version >/dev/null 2>&1; then
    say "installing cargo-fuzz (a few minutes, once)"
    cargo install cargo-fuzz --locked
  fi
  local missing=()
  command -v chromium >/dev/null || missing+=(chromium)
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
  command -v npm >/dev/null || missing+=(nodejs npm)
  command -v runuser >/dev/null || missing+=(util-linux)
  command -v curl >/dev/null || missing+=(curl)
  python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
  if [ "${#missing[@]}" -gt 0 ]; then
    apt_install "${missing[@]}"
  fi
  if [ ! -d end2end/node_modules/@playwright/test ] || [ end2end/package-lock.json -nt end2end/node_modules/.package-lock.json ]; then
    say "installing the Playwright test runner (no browser download: Debian's chromium is used)"
    (cd end2end && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
  fi
}

# The Python packages the tests' helper servers need (a local DNS server for domain
# verification: PyPI dnslib; a real SMTP server for email: PyPI aiosmtpd), in a venv of their
# own.
TEST_VENV="$ROOT/.tools/test-venv"
ensure_test_venv() {
  if ! "$TEST_VENV/bin/python" -c 'import dnslib, aiosmtpd' 2>/dev/null; then
    say "installing the tests' Python packages (dnslib, aiosmtpd) in .tools/test-venv"
    python3 -m venv "$TEST_VENV"
    "$TEST_VENV/bin/pip" install --quiet --disable-pip-version-check 'dnslib==0.9.26' 'aiosmtpd==1.4.6'
  fi
}

# Runs one fuzz target for a fixed number of inputs, from a copy of its seed corpus. cargo-fuzz
# wants nightly flags; RUSTC_BOOTSTRAP lets the stable toolchain accept them for this build only
# (it has its own target dir, fuzz/target, so nothing else is rebuilt).
fuzz() {
  local target="$1" runs="$2" work
  work="$(mktemp -d)"
  cp -r "fuzz/corpus/$target/." "$work/"
  (cd fuzz && RUSTFLAGS="" RUSTC_BOOTSTRAP=1 cargo fuzz run "$target" "$work" -- -runs="$runs" -max_len=4096 2>&1 | tail -n 3)
  rm -rf "$work"
}

# The previous release's binary, for the rolling-upgrade test (server/tests/integration/
# upgrade.rs): built once per commit named in deploy/previous-release, from `git archive` of
# that commit, in this checkout's target dir (the dependencies it shares with this release are
# not built again), then copied aside.
PREVIOUS_BIN="$ROOT/target/upgrade/roster-previous"
build_previous_release() {
  local commit src
  commit="$(grep -v '^#' deploy/previous-release | head -1 | tr -d '[:space:]')"
  if [ -x "$PREVIOUS_BIN" ] && [ "$(cat "$PREVIOUS_BIN.commit" 2>/dev/null)" = "$commit" ]; then
    return
  fi
  if ! git cat-file -e "${commit}^{commit}" 2>/dev/null; then
    say "fetching the previous release ${commit} (this clone does not have it)"
    if [ "$(git rev-parse --is-shallow-repository 2>/dev/null)" = true ]; then
      git fetch --quiet --unshallow origin 2>/dev/null || true
    fi
    git cat-file -e "${commit}^{commit}" 2>/dev/null || git fetch --quiet origin "$commit" || {
      echo "The previous release ${commit} (deploy/previous-release) is not in this clone and cannot be fetched:" >&2
      echo "the rolling-upgrade test needs it. Clone with history (not --depth) or run git fetch --unshallow." >&2
      exit 1
    }
  fi
  say "building the previous release (${commit:0:12}) for the rolling-upgrade test"
  src="$ROOT/target/upgrade/src"
  rm -rf "$src"
  mkdir -p "$src"
  git archive "$commit" | tar -x -C "$src"
  (cd "$src" && CARGO_TARGET_DIR="$ROOT/target" ROSTER_BUILD_COMMIT="$commit" cargo build --quiet -p roster-server --bin roster)
  cp "$ROOT/target/debug/roster" "$PREVIOUS_BIN"
  echo "$commit" >"$PREVIOUS_BIN.commit"
  # This release's own build puts its binary back.
  rm -f "$ROOT/target/debug/roster"
  rm -rf "$src"
}

build_site() {
  say "building the server and the dashboard (cargo leptos build)"
  cargo leptos build --split
}
