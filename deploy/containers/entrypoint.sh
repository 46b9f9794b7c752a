#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Container entrypoint of the beckon services: runs the binary given as arguments with the
# BECKON_* environment, after one translation the binaries cannot do themselves.
#
# BECKON_REDIS_HOST (entrypoint only, not a service setting), for a single Redis without
# Sentinel: the services take an IP address in --redis-url (they never resolve names on their
# event loop). When BECKON_REDIS_HOST names a host (compose service, Kubernetes Service), it is
# resolved here once, at container start, into
#   BECKON_REDIS_URL=redis://<address>:${BECKON_REDIS_PORT:-6379}
# unless BECKON_REDIS_URL is set already. If Redis gets a new address (container recreated),
# restart the services; a Kubernetes Service's ClusterIP does not change.
# With BECKON_REDIS_SENTINELS set (compose.yaml and the Kubernetes manifests do), nothing is
# resolved here: the services ask the Sentinels (host names allowed, looked up off the loop
# on every round) and follow failovers; redis-url then only gives the database.
set -eu
if [ -n "${BECKON_REDIS_SENTINELS:-}" ]; then
	: # the images' default BECKON_REDIS_HOST is not used
elif [ -n "${BECKON_REDIS_HOST:-}" ] && [ -z "${BECKON_REDIS_URL:-}" ]; then
	addr=""
	# Bounded wait: at start-up the name may not be in DNS yet (compose starts everything at
	# once). 30 tries, one second apart; then fail, and the orchestrator restarts us.
	i=0
	while [ $i -lt 30 ]; do
		addr=$(getent ahostsv4 "$BECKON_REDIS_HOST" | awk 'NR == 1 { print $1 }')
		[ -n "$addr" ] && break
		i=$((i + 1))
		sleep 1
	done
	if [ -z "$addr" ]; then
		echo "entrypoint: cannot resolve BECKON_REDIS_HOST=$BECKON_REDIS_HOST" >&2
		exit 1
	fi
	export BECKON_REDIS_URL="redis://$addr:${BECKON_REDIS_PORT:-6379}"
fi
unset BECKON_REDIS_HOST BECKON_REDIS_PORT
exec "$@"
