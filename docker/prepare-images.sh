#!/usr/bin/env bash
# Prepare the two base images the SMART docker setup needs, without any
# container registry:
#
#   debian:bookworm-slim       debootstrap --variant=minbase + docker import
#   smart-prometheus:bookworm  the same tree + Debian's `prometheus` package
#
# Images that already exist are left alone (one "present" line each).
#
# Environment:
#   FORCE=1                  rebuild both images even if they exist
#   DEBIAN_MIRROR=URL        Debian mirror (default: from host apt sources,
#                            else http://deb.debian.org/debian)
#   DEBIAN_SECURITY_MIRROR=URL|none
#                            security mirror written into the images' apt
#                            sources (default: from host apt sources, else
#                            http://deb.debian.org/debian-security)
#   PROM_USER=prometheus|root
#                            user the Prometheus image runs as (default:
#                            prometheus if the package created it)
#   TMPDIR                   where the temporary root trees go (/var/tmp)
#
# Requires root (debootstrap, chroot) and a working docker daemon.
set -euo pipefail

SUITE=bookworm
BASE_IMAGE=debian:bookworm-slim
PROM_IMAGE=smart-prometheus:bookworm
FORCE=${FORCE:-0}
PROM_USER=${PROM_USER:-prometheus}
DEFAULT_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

log() { printf '[prepare-images] %s\n' "$*"; }
die() { printf '[prepare-images] ERROR: %s\n' "$*" >&2; exit 1; }

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

# Elapsed time since $1 (an $EPOCHREALTIME value), e.g. "93.4s".
elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1fs", b - a }'; }

command -v docker >/dev/null || die "docker CLI not found"
docker info >/dev/null 2>&1 || die "docker daemon not reachable"

need_base=1
need_prom=1
if [[ $FORCE != 1 ]]; then
    if image_exists "$BASE_IMAGE"; then need_base=0; log "$BASE_IMAGE: present"; fi
    if image_exists "$PROM_IMAGE"; then need_prom=0; log "$PROM_IMAGE: present"; fi
fi
if (( !need_base && !need_prom )); then
    exit 0
fi

[[ $EUID -eq 0 ]] || die "must run as root (debootstrap/chroot)"

# Serialise concurrent runs.
{ exec 9>/run/lock/smart-prepare-images.lock; } 2>/dev/null || exec 9>/tmp/smart-prepare-images.lock
flock 9

# --------------------------------------------------------------------------
# Apt mirror detection
# --------------------------------------------------------------------------

# Print the deb URIs serving suite $1 from deb822 file $2 (one per line).
deb822_uris() {
    awk -v want="$1" '
        function flush(   n, i, u, s) {
            s = " " suites " "; gsub(/[ \t]+/, " ", s)
            if ((" " types " ") ~ / deb / && tolower(enabled) !~ /^ *no/ &&
                index(s, " " want " ") > 0) {
                n = split(uris, u, /[ \t]+/)
                for (i = 1; i <= n; i++) if (u[i] != "") print u[i]
            }
            types = uris = suites = key = ""; enabled = "yes"
        }
        BEGIN { enabled = "yes" }
        /^[ \t]*$/ { flush(); next }
        /^#/       { next }
        /^[ \t]/   {   # continuation line
            if (key == "types") types = types " " $0
            else if (key == "uris") uris = uris " " $0
            else if (key == "suites") suites = suites " " $0
            next
        }
        {
            i = index($0, ":"); if (i == 0) next
            key = tolower(substr($0, 1, i - 1)); val = substr($0, i + 1)
            gsub(/\t/, " ", val)
            if (key == "types") types = val
            else if (key == "uris") uris = val
            else if (key == "suites") suites = val
            else if (key == "enabled") enabled = val
        }
        END { flush() }' "$2"
}

# Print the deb URIs serving suite $1 from one-line-style file $2.
classic_uris() {
    awk -v want="$1" '
        $1 == "deb" {
            i = 2
            if ($2 ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
            if ($(i + 1) == want) print $i
        }' "$2"
}

# First usable host mirror URI for suite $1 (apt order: sources.list, then
# sources.list.d/ alphabetically); empty if none.
host_mirror() {
    local suite=$1 f uri
    local files=()
    [[ -f /etc/apt/sources.list ]] && files+=(/etc/apt/sources.list)
    for f in /etc/apt/sources.list.d/*; do   # glob order = apt's (sorted)
        [[ -f $f && ( $f == *.list || $f == *.sources ) ]] && files+=("$f")
    done
    [[ ${#files[@]} -gt 0 ]] || return 0
    for f in "${files[@]}"; do
        if [[ $f == *.sources ]]; then deb822_uris "$suite" "$f"; else classic_uris "$suite" "$f"; fi
    done | while read -r uri; do
        case $uri in http://*|https://*|file:/*) echo "${uri%/}"; break ;; esac
    done
}

MIRROR=${DEBIAN_MIRROR:-$(host_mirror "$SUITE" || true)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
SEC_MIRROR=${DEBIAN_SECURITY_MIRROR:-$(host_mirror "$SUITE-security" || true)}
SEC_MIRROR=${SEC_MIRROR:-http://deb.debian.org/debian-security}
log "mirror: $MIRROR (security: $SEC_MIRROR)"

# --------------------------------------------------------------------------
# Temp dir + cleanup (unmount anything below it before deleting)
# --------------------------------------------------------------------------

WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/smart-images.XXXXXX")
cleanup() {
    local m busy=0
    # Deepest mounts first.
    while read -r m; do
        umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || busy=1
    done < <(awk -v w="$WORK/" 'index($2, w) == 1 { print $2 }' /proc/mounts | sort -r)
    if (( busy )); then
        log "WARNING: could not unmount everything below $WORK; leaving it in place"
    else
        rm -rf --one-file-system "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ROOT=$WORK/rootfs

chroot_run() {
    # Run a command in $ROOT with /proc mounted and daemons blocked.
    mountpoint -q "$ROOT/proc" || mount -t proc proc "$ROOT/proc"
    local rc=0
    LC_ALL=C DEBIAN_FRONTEND=noninteractive PATH=$DEFAULT_PATH chroot "$ROOT" "$@" || rc=$?
    umount "$ROOT/proc"
    return $rc
}

# Make sure the few device nodes apt/dpkg need exist (docker export omits them).
ensure_dev_nodes() {
    mkdir -p "$ROOT/dev"
    [[ -e $ROOT/dev/null ]]    || mknod -m 666 "$ROOT/dev/null" c 1 3
    [[ -e $ROOT/dev/zero ]]    || mknod -m 666 "$ROOT/dev/zero" c 1 5
    [[ -e $ROOT/dev/random ]]  || mknod -m 666 "$ROOT/dev/random" c 1 8
    [[ -e $ROOT/dev/urandom ]] || mknod -m 666 "$ROOT/dev/urandom" c 1 9
}

# Slim-image tweaks, same idea as the official debian:*-slim images.
configure_slim() {
    mkdir -p "$ROOT/etc/dpkg/dpkg.cfg.d" "$ROOT/etc/apt/apt.conf.d"
    cat > "$ROOT/etc/dpkg/dpkg.cfg.d/docker" <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
CFG
    cat > "$ROOT/etc/apt/apt.conf.d/docker-clean" <<'CFG'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
CFG
    echo 'Acquire::Languages "none";' > "$ROOT/etc/apt/apt.conf.d/docker-no-languages"
    printf 'Acquire::GzipIndexes "true";\nAcquire::CompressionTypes::Order:: "gz";\n' \
        > "$ROOT/etc/apt/apt.conf.d/docker-gzip-indexes"
    printf 'Apt::AutoRemove::SuggestsImportant "false";\n' \
        > "$ROOT/etc/apt/apt.conf.d/docker-autoremove-suggests"
    printf 'APT::Install-Recommends "false";\n' \
        > "$ROOT/etc/apt/apt.conf.d/docker-no-recommends"

    # deb822 sources like the official image.
    rm -f "$ROOT/etc/apt/sources.list"
    {
        printf 'Types: deb\nURIs: %s\nSuites: %s %s-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
            "$MIRROR" "$SUITE" "$SUITE"
        if [[ $SEC_MIRROR != none ]]; then
            printf '\nTypes: deb\nURIs: %s\nSuites: %s-security\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
                "$SEC_MIRROR" "$SUITE"
        fi
    } > "$ROOT/etc/apt/sources.list.d/debian.sources"

    # Drop what the path-excludes would have kept out.
    find "$ROOT/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete 2>/dev/null || true
    find "$ROOT/usr/share/doc" -mindepth 1 -type d -empty -delete 2>/dev/null || true
    rm -rf "$ROOT"/usr/share/{man,groff,info,lintian,linda}/*
    find "$ROOT/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} + 2>/dev/null || true
}

# Remove caches, logs and host-specific files right before import.
clean_tree() {
    rm -rf "$ROOT"/var/lib/apt/lists/* "$ROOT"/var/cache/apt/*.bin \
           "$ROOT"/var/cache/apt/archives/*.deb "$ROOT"/var/cache/apt/archives/partial/* \
           "$ROOT"/var/cache/debconf/*-old "$ROOT"/var/lib/dpkg/*-old \
           "$ROOT"/var/cache/ldconfig/aux-cache "$ROOT"/tmp/* "$ROOT"/var/tmp/* \
           "$ROOT"/root/.bash_history "$ROOT"/usr/sbin/policy-rc.d "$ROOT"/.dockerenv \
           "$ROOT"/debootstrap
    mkdir -p "$ROOT/var/lib/apt/lists/partial"
    find "$ROOT/var/log" -type f -exec truncate -s 0 {} +
    : > "$ROOT/etc/resolv.conf"
    : > "$ROOT/etc/hostname"
    # systemd convention: empty machine-id, generated on first boot (if ever)
    [[ -e $ROOT/etc/machine-id ]] && : > "$ROOT/etc/machine-id"
    return 0
}

# import_tree IMAGE MESSAGE [--change ...]...
import_tree() {
    local img=$1 msg=$2 old
    shift 2
    old=$(docker image inspect -f '{{.Id}}' "$img" 2>/dev/null || true)
    tar --numeric-owner --xattrs -C "$ROOT" -cf - \
        --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' --exclude='./run/*' . \
        | docker import -m "$msg" "$@" - "$img" >/dev/null
    # With FORCE=1 the previous image is now untagged: drop it if unused.
    if [[ -n $old && $old != "$(docker image inspect -f '{{.Id}}' "$img")" ]]; then
        docker image rm "$old" >/dev/null 2>&1 || true
    fi
}

# --------------------------------------------------------------------------
# 1. debian:bookworm-slim
# --------------------------------------------------------------------------

if (( need_base )); then
    t0=$EPOCHREALTIME
    if ! command -v debootstrap >/dev/null; then
        log "installing debootstrap"
        export DEBIAN_FRONTEND=noninteractive
        if ! apt-get install -y -qq --no-install-recommends debootstrap >/dev/null 2>&1; then
            apt-get update -qq >/dev/null
            apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
        fi
    fi
    log "$BASE_IMAGE: debootstrap --variant=minbase $SUITE ..."
    if ! debootstrap --variant=minbase --include=ca-certificates \
            "$SUITE" "$ROOT" "$MIRROR" >"$WORK/debootstrap.log" 2>&1; then
        tail -n 30 "$WORK/debootstrap.log" >&2
        [[ -f $ROOT/debootstrap/debootstrap.log ]] && tail -n 30 "$ROOT/debootstrap/debootstrap.log" >&2
        die "debootstrap failed"
    fi
    configure_slim
    clean_tree
    log "$BASE_IMAGE: importing ($(du -sh --one-file-system "$ROOT" | cut -f1) tree)"
    import_tree "$BASE_IMAGE" "debootstrap --variant=minbase $SUITE $MIRROR" \
        --change "ENV PATH=$DEFAULT_PATH" \
        --change 'CMD ["bash"]'
    ver=$(docker run --rm "$BASE_IMAGE" cat /etc/debian_version) \
        || die "$BASE_IMAGE does not run"
    log "$BASE_IMAGE: built in $(elapsed "$t0") (debian_version $ver)"
fi

# --------------------------------------------------------------------------
# 2. smart-prometheus:bookworm (Debian's prometheus package)
# --------------------------------------------------------------------------

if (( need_prom )); then
    t0=$EPOCHREALTIME
    if [[ ! -d $ROOT/etc ]]; then
        # The base image already existed: reuse its filesystem.
        log "$PROM_IMAGE: exporting $BASE_IMAGE as starting tree"
        mkdir -p "$ROOT"
        cid=$(docker create "$BASE_IMAGE" true)
        docker export "$cid" | tar --numeric-owner -C "$ROOT" -xf -
        docker rm "$cid" >/dev/null
        rm -f "$ROOT/.dockerenv"
    fi
    ensure_dev_nodes
    cp -L /etc/resolv.conf "$ROOT/etc/resolv.conf"
    printf '#!/bin/sh\nexit 101\n' > "$ROOT/usr/sbin/policy-rc.d"
    chmod 755 "$ROOT/usr/sbin/policy-rc.d"

    # libjs-moment-timezone ships ~210 MB of unpacked tz data below data/;
    # the Prometheus UI only loads moment-timezone-with-data.min.js.
    mkdir -p "$ROOT/etc/dpkg/dpkg.cfg.d"
    echo 'path-exclude /usr/share/javascript/moment-timezone/data/*' \
        > "$ROOT/etc/dpkg/dpkg.cfg.d/smart-prometheus"

    log "$PROM_IMAGE: apt-get install prometheus ..."
    if ! chroot_run sh -c 'apt-get -o Acquire::Check-Valid-Until=false update &&
                           apt-get install -y --no-install-recommends prometheus' \
            >"$WORK/apt.log" 2>&1; then
        tail -n 30 "$WORK/apt.log" >&2
        die "installing prometheus failed"
    fi
    [[ -x $ROOT/usr/bin/prometheus ]] || die "/usr/bin/prometheus missing after install"

    # Default config (the Debian package ships one; make sure).
    if [[ ! -f $ROOT/etc/prometheus/prometheus.yml ]]; then
        mkdir -p "$ROOT/etc/prometheus"
        cat > "$ROOT/etc/prometheus/prometheus.yml" <<'CFG'
global:
  scrape_interval: 15s
scrape_configs:
  - job_name: prometheus
    static_configs:
      - targets: ["localhost:9090"]
CFG
    fi

    user=root
    if [[ $PROM_USER != root ]] && grep -q "^$PROM_USER:" "$ROOT/etc/passwd"; then
        user=$PROM_USER
    fi
    mkdir -p "$ROOT/prometheus"
    chroot "$ROOT" chown "$user:" /prometheus
    chmod 775 "$ROOT/prometheus"

    clean_tree
    log "$PROM_IMAGE: importing ($(du -sh --one-file-system "$ROOT" | cut -f1) tree, user $user)"
    import_tree "$PROM_IMAGE" "Debian $SUITE prometheus package on debootstrap minbase" \
        --change "ENV PATH=$DEFAULT_PATH" \
        --change "USER $user" \
        --change 'WORKDIR /prometheus' \
        --change 'EXPOSE 9090' \
        --change 'ENTRYPOINT ["/usr/bin/prometheus"]' \
        --change 'CMD ["--config.file=/etc/prometheus/prometheus.yml","--storage.tsdb.path=/prometheus"]'
    ver=$(docker run --rm "$PROM_IMAGE" --version 2>&1 | head -n1) \
        || die "$PROM_IMAGE does not run"
    log "$PROM_IMAGE: built in $(elapsed "$t0") ($ver)"
fi
