#!/usr/bin/env bash
# Builds the container images critest pulls, without the internet.
#
# Usage: build.sh [--out DIR] [--push HOST:PORT] [--push-only]
#
# Every image critest v1.37.0 pulls (see /work/shared/notes/critest-offline.md)
# is rebuilt here from Debian packages and a few lines of C, as linux/amd64
# single-platform OCI images. Each image becomes an OCI layout under
# DIR/layouts/ (default DIR: test/images/out) and one line
# "<repository path>:<tag> <manifest digest>" in DIR/images.txt; with --push
# the images are pushed to HOST:PORT keeping the upstream repository path
# (registry.k8s.io/e2e-test-images/busybox:1.29-2 -> HOST:PORT/e2e-test-images/busybox:1.29-2).
# --push-only pushes an earlier build's DIR without rebuilding.
#
# Same inputs give the same digests: layers are tar archives with sorted
# entries, one fixed mtime (SOURCE_DATE_EPOCH) and owner 0:0, compressed with
# `gzip -n`; configs and manifests are written by jq in a fixed key order.
#
# The slow parts (busybox compile, .deb downloads) are cached under
# $KRILL_IMAGE_CACHE (default /var/cache/krill-test-images), keyed by their
# inputs. The system's /etc/apt is never modified: Debian's busybox *source*
# comes through a private apt configuration inside the cache.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "$here/../.." && pwd)"

out="$here/out"
push=""
push_only=""
while [[ $# -gt 0 ]]; do
	case "$1" in
	--out) out="$2"; shift 2 ;;
	--push) push="$2"; shift 2 ;;
	--push-only) push_only=1; shift ;;
	-h|--help) sed -n '2,23p' "$0"; exit 0 ;;
	*) echo "build.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done

export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-1700000000}"
export LC_ALL=C TZ=UTC
umask 022
cache="${KRILL_IMAGE_CACHE:-/var/cache/krill-test-images}"
crane="${CRANE:-$here/bin/crane}"
CRANE_VERSION=v0.22.1
created="$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)"
PATH_ENV="PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

log() { echo "build.sh: $*" >&2; }
die() { log "$*"; exit 1; }

# ---------------------------------------------------------------- tools

ensure_tools() {
	local missing=()
	command -v gcc >/dev/null || missing+=(gcc)
	command -v make >/dev/null || missing+=(make)
	command -v jq >/dev/null || missing+=(jq)
	command -v dpkg-source >/dev/null || missing+=(dpkg-dev)
	command -v bzip2 >/dev/null || missing+=(bzip2)
	command -v xz >/dev/null || missing+=(xz-utils)
	command -v readelf >/dev/null || missing+=(binutils)
	[[ -f /usr/lib/x86_64-linux-gnu/libc.a ]] || missing+=(libc6-dev)
	[[ -f /usr/lib/x86_64-linux-gnu/libcrypt.a ]] || missing+=(libcrypt-dev)
	if [[ ${#missing[@]} -gt 0 ]]; then
		log "installing ${missing[*]}"
		if ! apt-get install -y --no-install-recommends "${missing[@]}" >&2; then
			apt-get update >&2
			apt-get install -y --no-install-recommends "${missing[@]}" >&2
		fi
	fi
	if [[ ! -x "$crane" ]] || [[ "$("$crane" version 2>/dev/null)" != "$CRANE_VERSION" ]]; then
		log "installing crane $CRANE_VERSION into $(dirname "$crane")"
		mkdir -p "$(dirname "$crane")"
		GOBIN="$(dirname "$crane")" GOFLAGS=-buildvcs=false \
			go install "github.com/google/go-containerregistry/cmd/crane@$CRANE_VERSION"
	fi
}

# ---------------------------------------------------------------- layers and images

# mklayer DIR: archives DIR as one deterministic layer, stores the gzip blob in
# $blobs and prints "<layer digest> <diff id> <size>".
mklayer() {
	local dir="$1" tmp entries
	tmp="$(mktemp "$work/layer.XXXXXX")"
	# Top-level names listed explicitly so entries read "bin/sh", not "./bin/sh".
	mapfile -t entries < <(cd "$dir" && ls -A | sort)
	[[ ${#entries[@]} -gt 0 ]] || die "mklayer: $dir is empty"
	tar -C "$dir" --sort=name --format=gnu --mtime="@$SOURCE_DATE_EPOCH" \
		--owner=0 --group=0 --numeric-owner -cf "$tmp.tar" -- "${entries[@]}"
	gzip -n -9 -c "$tmp.tar" >"$tmp.gz"
	local diff_id digest size
	diff_id="sha256:$(sha256sum "$tmp.tar" | cut -d' ' -f1)"
	digest="sha256:$(sha256sum "$tmp.gz" | cut -d' ' -f1)"
	size="$(stat -c %s "$tmp.gz")"
	mv -f "$tmp.gz" "$blobs/${digest#sha256:}"
	rm -f "$tmp" "$tmp.tar"
	echo "$digest $diff_id $size"
}

# put_blob FILE: stores FILE under its digest, prints "<digest> <size>".
put_blob() {
	local d
	d="$(sha256sum "$1" | cut -d' ' -f1)"
	cp -f "$1" "$blobs/$d"
	echo "sha256:$d $(stat -c %s "$1")"
}

# mkimage NAME CONFIG_JSON LAYER_VAR...: writes an OCI layout for one
# linux/amd64 image. CONFIG_JSON is the image's "config" object (Entrypoint,
# Cmd, User, ...); each LAYER_VAR names a variable holding mklayer output.
# Prints the manifest digest.
mkimage() {
	local name="$1" cfg="$2"; shift 2
	local layers_json="[]" diff_ids="[]" history="[]" v d i s
	for v in "$@"; do
		read -r d i s <<<"${!v}"
		layers_json="$(jq -c --arg d "$d" --argjson s "$s" \
			'. + [{mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: $d, size: $s}]' <<<"$layers_json")"
		diff_ids="$(jq -c --arg i "$i" '. + [$i]' <<<"$diff_ids")"
		history="$(jq -c --arg c "$created" --arg by "krill test/images/build.sh: ${v#layer_}" \
			'. + [{created: $c, created_by: $by}]' <<<"$history")"
	done
	local cfgfile="$work/config.json" manfile="$work/manifest.json"
	jq -c -n --arg created "$created" --argjson config "$cfg" --argjson diff "$diff_ids" --argjson hist "$history" \
		'{architecture: "amd64", os: "linux", created: $created, config: $config,
		  rootfs: {type: "layers", diff_ids: $diff}, history: $hist}' >"$cfgfile"
	local cd cs
	read -r cd cs <<<"$(put_blob "$cfgfile")"
	jq -c -n --arg cd "$cd" --argjson cs "$cs" --argjson layers "$layers_json" \
		'{schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json",
		  config: {mediaType: "application/vnd.oci.image.config.v1+json", digest: $cd, size: $cs},
		  layers: $layers}' >"$manfile"
	local md ms
	read -r md ms <<<"$(put_blob "$manfile")"

	local layout="$out/layouts/$name"
	rm -rf "$layout"
	mkdir -p "$layout/blobs/sha256"
	echo '{"imageLayoutVersion":"1.0.0"}' >"$layout/oci-layout"
	jq -c -n --arg md "$md" --argjson ms "$ms" \
		'{schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json",
		  manifests: [{mediaType: "application/vnd.oci.image.manifest.v1+json", digest: $md, size: $ms,
		               platform: {architecture: "amd64", os: "linux"}}]}' >"$layout/index.json"
	local b
	for b in "$md" "$cd" $(jq -r '.layers[].digest' "$manfile"); do
		ln -f "$blobs/${b#sha256:}" "$layout/blobs/sha256/${b#sha256:}" 2>/dev/null ||
			cp -f "$blobs/${b#sha256:}" "$layout/blobs/sha256/${b#sha256:}"
	done
	echo "$md"
}

# image NAME REFS CONFIG_JSON LAYER_VAR...: builds NAME and records each of the
# space-separated REFS (repository path:tag, without the registry host).
image() {
	local name="$1" refs="$2" cfg="$3"; shift 3
	local md r
	md="$(mkimage "$name" "$cfg" "$@")"
	for r in $refs; do
		echo "$r $name $md" >>"$out/images.txt.tmp"
	done
}

# ---------------------------------------------------------------- busybox

# Debian's busybox source package built with upstream defconfig, static. Not
# Debian's busybox-static: that one runs applets inside sh
# (FEATURE_SH_STANDALONE), so a masked /bin/ls would still run, and it lacks
# pgrep and ipcs, which the specs use.
build_busybox() {
	local apt="$cache/apt"
	mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/parts"
	local codename
	codename="$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")"
	cat >"$apt/sources.list" <<-EOF
		deb-src http://deb.debian.org/debian $codename main
		deb-src http://deb.debian.org/debian $codename-updates main
		deb-src http://deb.debian.org/debian-security $codename-security main
	EOF
	local aptopts=(-o "Dir::Etc::SourceList=$apt/sources.list" -o "Dir::Etc::SourceParts=$apt/parts"
		-o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache")
	local dsc
	dsc="$(ls "$apt"/src/busybox_*.dsc 2>/dev/null | sort | tail -n1 || true)"
	if [[ -z "$dsc" ]]; then
		log "fetching Debian busybox source"
		apt-get "${aptopts[@]}" -o APT::Sandbox::User=root update >&2
		rm -rf "$apt/src"
		mkdir -p "$apt/src"
		(cd "$apt/src" && apt-get "${aptopts[@]}" -o APT::Sandbox::User=root --download-only source busybox >&2)
		dsc="$(ls "$apt"/src/busybox_*.dsc | sort | tail -n1)"
	fi
	# The key covers the source, the compiler, the static libc and this recipe.
	local key
	key="$( { cat "$dsc"; gcc --version | head -n1; dpkg-query -W libc6-dev libcrypt-dev linux-libc-dev 2>/dev/null;
		declare -f build_busybox_compile; } | sha256sum | cut -c1-16)"
	bb_bin="$cache/busybox-$key/busybox"
	if [[ -x "$bb_bin" ]]; then
		log "busybox: cached ($bb_bin)"
		return
	fi
	build_busybox_compile "$dsc" "$cache/busybox-$key"
}

build_busybox_compile() {
	local dsc="$1" dest="$2" src="$cache/build/busybox"
	log "busybox: compiling (about 3 minutes on 2 cores)"
	rm -rf "$src"
	mkdir -p "$(dirname "$src")"
	dpkg-source --no-check -x "$dsc" "$src" >&2
	(
		cd "$src"
		make defconfig >/dev/null
		sed -i -e 's/^# CONFIG_STATIC is not set$/CONFIG_STATIC=y/' .config
		# Spelled out because the specs depend on them.
		grep -q '^CONFIG_STATIC=y$' .config
		grep -q '^# CONFIG_FEATURE_SH_STANDALONE is not set$' .config
		grep -q '^# CONFIG_FEATURE_PREFER_APPLETS is not set$' .config
		KCONFIG_NOTIMESTAMP=1 make -j"$(nproc)" busybox >&2
	)
	mkdir -p "$dest"
	cp "$src/busybox" "$dest/busybox.tmp"
	mv "$dest/busybox.tmp" "$dest/busybox"
	rm -rf "$src"
}

# ---------------------------------------------------------------- Debian binaries for nginx

# fetch_debs PKG...: downloads the candidate .debs into the cache (once per
# version) and prints their paths.
fetch_debs() {
	local dir="$cache/debs" p f ver fver
	mkdir -p "$dir"
	for p in "$@"; do
		ver="$(apt-cache policy "$p" | sed -n 's/^ *Candidate: //p')"
		if [[ -z "$ver" || "$ver" == "(none)" ]]; then
			apt-get update >&2
			ver="$(apt-cache policy "$p" | sed -n 's/^ *Candidate: //p')"
		fi
		[[ -n "$ver" && "$ver" != "(none)" ]] || die "no Debian package $p"
		fver="${ver//:/%3a}" # apt-get download writes epochs as %3a
		f="$dir/${p}_${fver}_amd64.deb"
		[[ -f "$f" ]] || f="$dir/${p}_${fver}_all.deb"
		if [[ ! -f "$f" ]]; then
			(cd "$dir" && apt-get -o APT::Sandbox::User=root download "$p=$ver" >&2)
			f="$(ls "$dir/${p}_${fver}_"*.deb | head -n1)"
		fi
		echo "$f"
	done
}

# check_needed ROOT BIN: every shared library BIN (and its libraries) needs
# must be inside ROOT, or nginx would fail only when a container starts.
check_needed() {
	local root="$1" todo=("$2") seen=" " f lib found d
	while [[ ${#todo[@]} -gt 0 ]]; do
		f="${todo[0]}"; todo=("${todo[@]:1}")
		for lib in $(readelf -d "$f" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p'); do
			[[ "$seen" == *" $lib "* ]] && continue
			seen+="$lib "
			found=""
			for d in lib/x86_64-linux-gnu usr/lib/x86_64-linux-gnu lib usr/lib; do
				if [[ -e "$root/$d/$lib" ]]; then found="$root/$d/$lib"; break; fi
			done
			[[ -n "$found" ]] || die "nginx layer: $lib (needed by ${f#$root}) missing"
			todo+=("$(readlink -f "$found")")
		done
	done
}

# push_all HOST:PORT: pushes every built reference and checks the registry
# serves back the digest that was built.
push_all() {
	local ref name md got
	while read -r ref name md; do
		if ! "$crane" push --insecure "$out/layouts/$name" "$1/$ref" >/dev/null 2>"$out/push.log"; then
			cat "$out/push.log" >&2
			die "push $ref to $1 failed"
		fi
		got="$("$crane" digest --insecure "$1/$ref")"
		[[ "$got" == "$md" ]] || die "push $ref: registry has $got, built $md"
	done <"$out/images.txt"
	log "pushed $(wc -l <"$out/images.txt") references to $1"
}

# ---------------------------------------------------------------- main

# One build or push per output dir at a time (verify.sh and run.sh may overlap).
mkdir -p "$out"
exec 8>"$out/.lock"
flock 8

if [[ -n "$push_only" ]]; then
	[[ -n "$push" ]] || die "--push-only needs --push HOST:PORT"
	[[ -f "$out/images.txt" ]] || die "--push-only: no build in $out"
	push_all "$push"
	exit 0
fi

ensure_tools
mkdir -p "$cache" "$out"
build_busybox

# Whole-build stamp: when nothing that feeds the images changed (this script,
# files/, src/, pause.c, the Debian candidates, compiler, epoch), the previous
# output is reused as is.
nginx_pkgs=(nginx nginx-common libc6 libcrypt1 libpcre2-8-0 libssl3 zlib1g libgcc-s1)
stamp="$( {
	cat "$0" "$repo_root/pause/pause.c"
	find "$here/files" "$here/src" -type f | sort | xargs sha256sum
	apt-cache policy "${nginx_pkgs[@]}" | grep -E '^[a-z]|Candidate'
	echo "$bb_bin"
	gcc --version | head -n1
	echo "$SOURCE_DATE_EPOCH"
} | sha256sum | cut -d' ' -f1)"
if [[ -f "$out/images.txt" && -f "$out/stamp" && "$(cat "$out/stamp")" == "$stamp" ]]; then
	log "images: up to date in $out"
	[[ -z "$push" ]] || push_all "$push"
	exit 0
fi
rm -f "$out/stamp"
work="$(mktemp -d "${TMPDIR:-/tmp}/krill-images.XXXXXX")"
trap 'rm -rf "$work"' EXIT
blobs="$out/blobs"
mkdir -p "$blobs"
rm -rf "$out/layouts"
rm -f "$out/images.txt.tmp"

# Base layer: busybox with every applet hard-linked into /bin, like the
# upstream busybox image, plus passwd/group with root, www-data and nobody.
r="$work/base"
mkdir -p "$r"/{bin,dev,etc,home,proc,root,sys,tmp,usr/local/bin,var/spool/mail,var/www}
install -m 0755 "$bb_bin" "$r/bin/busybox"
for a in $("$r/bin/busybox" --list); do
	[[ "$a" == busybox ]] || ln "$r/bin/busybox" "$r/bin/$a"
done
install -m 0644 "$here/files/base/etc/passwd" "$here/files/base/etc/group" "$r/etc/"
chmod 1777 "$r/tmp"
chmod 0700 "$r/root"
layer_busybox="$(mklayer "$r")"

# nginx layer: Debian's nginx binary and the shared libraries it links.
r="$work/nginx"
mkdir -p "$r"
debs="$(fetch_debs "${nginx_pkgs[@]}")"
for deb in $debs; do
	dpkg-deb -x "$deb" "$work/deb"
done
mkdir -p "$r/usr/sbin" "$r/etc/nginx/conf.d" "$r/usr/share/nginx/html" "$r/var/log/nginx" \
	"$r/var/run" "$r/var/cache/nginx" "$r/var/lib/nginx" "$r/lib64"
cp -a "$work/deb/usr/sbin/nginx" "$r/usr/sbin/nginx"
for d in lib/x86_64-linux-gnu usr/lib/x86_64-linux-gnu; do
	[[ -d "$work/deb/$d" ]] || continue
	mkdir -p "$r/$d"
	# Shared objects only: no gconv modules, audit libs or docs.
	find "$work/deb/$d" -maxdepth 1 \( -name '*.so*' \) -exec cp -a {} "$r/$d/" \;
done
cp -a "$work/deb/lib64/ld-linux-x86-64.so.2" "$r/lib64/"
[[ -e "$r/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2" ]] || die "nginx layer: no dynamic loader"
install -m 0644 "$work/deb/etc/nginx/mime.types" "$r/etc/nginx/mime.types"
install -m 0644 "$here/files/nginx/nginx.conf" "$r/etc/nginx/nginx.conf"
install -m 0644 "$here/files/nginx/default.conf" "$r/etc/nginx/conf.d/default.conf"
install -m 0644 "$here/files/nginx/index.html" "$r/usr/share/nginx/html/index.html"
# Logs go to the container log, as in the official image.
ln -s /dev/stdout "$r/var/log/nginx/access.log"
ln -s /dev/stderr "$r/var/log/nginx/error.log"
check_needed "$r" "$r/usr/sbin/nginx"
layer_nginx="$(mklayer "$r")"

r="$work/hostnet"
mkdir -p "$r/etc/nginx/conf.d"
install -m 0644 "$here/files/nginx/hostnet-default.conf" "$r/etc/nginx/conf.d/default.conf"
layer_hostnet_conf="$(mklayer "$r")"

r="$work/httpd"
mkdir -p "$r/usr/local/bin" "$r/usr/local/apache2/htdocs"
install -m 0755 "$here/files/httpd/httpd-foreground" "$r/usr/local/bin/httpd-foreground"
install -m 0644 "$here/files/httpd/index.html" "$r/usr/local/apache2/htdocs/index.html"
layer_httpd="$(mklayer "$r")"

r="$work/nonewprivs"
mkdir -p "$r/usr/local/bin"
gcc -static -Os -s -o "$r/usr/local/bin/nonewprivs" "$here/src/nonewprivs.c"
chmod 4755 "$r/usr/local/bin/nonewprivs"
layer_nonewprivs="$(mklayer "$r")"

r="$work/pause"
mkdir -p "$r"
gcc -static -Os -s -o "$r/pause" "$repo_root/pause/pause.c"
layer_pause="$(mklayer "$r")"

r="$work/group"
mkdir -p "$r/etc" "$r/home/default-user"
install -m 0644 "$here/files/predefined-group/passwd" "$r/etc/passwd"
install -m 0644 "$here/files/predefined-group/group" "$r/etc/group"
layer_predefined_group="$(mklayer "$r")"

# Like upstream images/image-test: busybox plus one file named after the
# image, so that every test image has its own image ID.
test_file_layer() {
	local r="$work/testfile-$1"
	mkdir -p "$r"
	echo "$1" >"$r/$1"
	mklayer "$r"
}

env_json="$(jq -c -n --arg p "$PATH_ENV" '[$p]')"
sh_cfg="$(jq -c -n --argjson e "$env_json" '{Env: $e, Cmd: ["sh"]}')"
user_cfg() { jq -c -n --argjson e "$env_json" --arg u "$1" '{User: $u, Env: $e, Cmd: ["sh"]}'; }
nginx_cfg="$(jq -c -n --argjson e "$env_json" \
	'{Env: $e, Cmd: ["nginx", "-g", "daemon off;"], ExposedPorts: {"80/tcp": {}}}')"

E2E=e2e-test-images
STAGING=k8s-staging-cri-tools

image busybox "$E2E/busybox:1.29-2" "$sh_cfg" layer_busybox
image nginx "$E2E/nginx:1.14-2" "$nginx_cfg" layer_busybox layer_nginx
image hostnet-nginx "$STAGING/hostnet-nginx-amd64:latest" \
	"$(jq -c '.ExposedPorts = {"12003/tcp": {}}' <<<"$nginx_cfg")" layer_busybox layer_nginx layer_hostnet_conf
image httpd "$E2E/httpd:2.4.39-4" \
	"$(jq -c -n --argjson e "$env_json" '{Env: $e, Cmd: ["httpd-foreground"], ExposedPorts: {"80/tcp": {}}}')" \
	layer_busybox layer_httpd
image nonewprivs "$E2E/nonewprivs:1.3" \
	"$(jq -c -n --argjson e "$env_json" '{Env: $e, Entrypoint: ["/usr/local/bin/nonewprivs"]}')" \
	layer_busybox layer_nonewprivs
# registry.k8s.io/pause:3.9 and k8s.gcr.io/pause:3.9 both map to pause:3.9 in
# the mirror, so they are one image ID as the spec demands. 3.10 (Krill's
# sandbox image) differs by its version label.
for v in 3.9 3.10; do
	image "pause-$v" "pause:$v" \
		"$(jq -c -n --arg v "$v" '{User: "65535:65535", Entrypoint: ["/pause"], Labels: {"org.krill.pause.version": $v}}')" \
		layer_pause
done
image test-image-user-uid "$STAGING/test-image-user-uid:latest" "$(user_cfg 1002)" layer_busybox
image test-image-user-username "$STAGING/test-image-user-username:latest" "$(user_cfg www-data)" layer_busybox
image test-image-user-uid-group "$STAGING/test-image-user-uid-group:latest" "$(user_cfg 1003:1004)" layer_busybox
image test-image-user-username-group "$STAGING/test-image-user-username-group:latest" "$(user_cfg www-data:1004)" layer_busybox
image test-image-predefined-group "$STAGING/test-image-predefined-group:latest" "$(user_cfg 1000)" \
	layer_busybox layer_predefined_group
for t in test-image-latest test-image-tag-test test-image-tag-all test-image-1 test-image-2 test-image-3 test-image-tags; do
	declare "layer_${t//-/_}=$(test_file_layer "$t")"
done
image test-image-latest "$STAGING/test-image-latest:latest" "$sh_cfg" layer_busybox layer_test_image_latest
image test-image-tag-test "$STAGING/test-image-tag:test" "$sh_cfg" layer_busybox layer_test_image_tag_test
image test-image-tag-all "$STAGING/test-image-tag:all" "$sh_cfg" layer_busybox layer_test_image_tag_all
for n in 1 2 3; do
	v="layer_test_image_$n"
	image "test-image-$n" "$STAGING/test-image-$n:latest" "$sh_cfg" layer_busybox "$v"
done
image test-image-tags "$STAGING/test-image-tags:1 $STAGING/test-image-tags:2 $STAGING/test-image-tags:3" \
	"$sh_cfg" layer_busybox layer_test_image_tags
# Benchmark images (public.ecr.aws/docker/library/busybox): busybox, one
# image ID per tag as upstream has.
for t in 1.35.0-glibc 1-uclibc 1 1-glibc 1-musl; do
	image "ecr-busybox-$t" "docker/library/busybox:$t" \
		"$(jq -c --arg t "$t" '.Labels = {"org.krill.test.tag": $t}' <<<"$sh_cfg")" layer_busybox
done

sort "$out/images.txt.tmp" >"$out/images.txt"
rm -f "$out/images.txt.tmp"
# Blobs no image references any more (older builds) are dropped.
find "$blobs" -type f -links 1 -delete
echo "$stamp" >"$out/stamp"
log "built $(wc -l <"$out/images.txt") image references into $out"

[[ -z "$push" ]] || push_all "$push"
