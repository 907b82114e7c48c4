#!/usr/bin/env bash
# The SMART network as containers, end to end (called by .ci/run):
# base images (offline when no registry), the static binary and its image,
# `compose up`, every peer healthy, a shop day through the published gateway
# port, one tip on every peer, every Prometheus target up, a hub container
# killed while work goes on and restarted, convergence, `compose down -v`.
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v docker >/dev/null 2>&1 || ! docker info >/dev/null 2>&1; then
    echo "docker: no engine on this machine, so the compose network test did not run"
    exit 0
fi
if docker compose version >/dev/null 2>&1; then
    COMPOSE=(docker compose)
elif command -v docker-compose >/dev/null 2>&1; then
    COMPOSE=(docker-compose)
else
    echo "error: a docker engine but neither 'docker compose' nor 'docker-compose'" >&2
    exit 1
fi
if [[ $EUID -ne 0 ]]; then
    # The base images need debootstrap (root), and the containers write the
    # network folder as root.
    echo "error: docker/test.sh runs as root (debootstrap, the containers' folder)" >&2
    exit 1
fi
project=smart-ci
compose() { "${COMPOSE[@]}" -p "$project" -f compose.yaml "$@"; }
log() { printf '[docker/test] %s\n' "$*"; }
cleanup() {
    compose down -v --remove-orphans >/dev/null 2>&1 || true
    rm -rf net
}
trap cleanup EXIT
cleanup

./prepare-images.sh
./build-image.sh
smart=../target/x86_64-unknown-linux-gnu/release/smart
"$smart" testnet compose --out . --check

log "compose up (${COMPOSE[*]})"
compose up -d
peers=(vault-hub floor-hub business-hub station-1 station-2 station-3 station-4 station-5 station-6 gateway)
container() { compose ps -q "$1"; }

wait_healthy() {
    local deadline=$((SECONDS + 180)) p state
    for p in "$@"; do
        while :; do
            state=$(docker inspect -f '{{.State.Health.Status}}' "$(container "$p")" 2>/dev/null || echo missing)
            [[ $state == healthy ]] && break
            if ((SECONDS > deadline)); then
                log "$p is $state after 180 s"; compose logs --tail 30 "$p"; exit 1
            fi
            sleep 1
        done
    done
    log "healthy: $*"
}

# Every peer's (height, tip) through `smart health` inside its container.
tips() {
    local p
    for p in "${peers[@]}"; do
        docker exec "$(container "$p")" smart health 2>/dev/null | sed 's/^[0-9]* //' |
            python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["height"], d["tip"])' 2>/dev/null ||
            echo "unreachable $p"
    done
}
wait_converged() {
    local deadline=$((SECONDS + 120)) all distinct
    while :; do
        all=$(tips) || true
        distinct=$(sort -u <<<"$all")
        if [[ $(wc -l <<<"$all") == "${#peers[@]}" && $(wc -l <<<"$distinct") == 1 &&
              $distinct != 0\ * && $distinct != unreachable* ]]; then
            log "all ${#peers[@]} peers at height/tip $distinct"
            return
        fi
        if ((SECONDS > deadline)); then log "peers differ: $distinct"; exit 1; fi
        sleep 1
    done
}
hub_peers() {
    local h
    for h in "$@"; do
        case $h in
            vault-hub) printf -- '--peer vault-hub@/ip4/10.77.0.11/tcp/7000 ' ;;
            floor-hub) printf -- '--peer floor-hub@/ip4/10.77.0.12/tcp/7000 ' ;;
            business-hub) printf -- '--peer business-hub@/ip4/10.77.0.13/tcp/7000 ' ;;
        esac
    done
}

wait_healthy "${peers[@]}"

log "a shop day: staff actions to the hubs, the client through the published gateway port 127.0.0.1:8443"
# shellcheck disable=SC2046
"$smart" testnet demo --dir net $(hub_peers vault-hub floor-hub business-hub) --gateway 127.0.0.1:8443
wait_converged

log "Prometheus scrapes every peer"
deadline=$((SECONDS + 60))
until curl -fsS http://127.0.0.1:9090/api/v1/targets | python3 -c '
import json, sys
targets = json.load(sys.stdin)["data"]["activeTargets"]
up = [t for t in targets if t["health"] == "up"]
print(f"{len(up)} of {len(targets)} targets up")
sys.exit(0 if len(targets) == 10 and len(up) == 10 else 1)'; do
    if ((SECONDS > deadline)); then log "not every target is up"; exit 1; fi
    sleep 2
done

log "kill floor-hub; the next job runs on the other two hubs; restart it"
docker kill "$(container floor-hub)" >/dev/null
# shellcheck disable=SC2046
"$smart" testnet demo --dir net $(hub_peers vault-hub business-hub) --gateway 127.0.0.1:8443
docker start "$(container floor-hub)" >/dev/null
wait_healthy floor-hub
wait_converged

log "compose down -v"
compose down -v
log "passed"
