# SPDX-License-Identifier: Apache-2.0
# Sourced by scripts/test and scripts/demo: installs the Debian 12 packages beckon needs to
# build, test and demo, but only those missing (dpkg -s), so a second run does no apt work.

BECKON_DEPS=(meson ninja-build pkg-config gcc libsofia-sip-ua-dev libuv1-dev libhiredis-dev
	libmicrohttpd-dev libjansson-dev libcurl4-openssl-dev libssl-dev redis-server sip-tester
	iproute2 python3 ca-certificates curl git)
# HTTPS in cm_http (client-certificate checks on MHD's GnuTLS session); openssl makes test certificates.
BECKON_DEPS+=(libgnutls28-dev openssl)
# The robustness suites' tools (docs/robustness.md).
# The bounded fuzzing run in scripts/test (clang with libFuzzer, docs/fuzzing.md).
BECKON_DEPS+=(clang libclang-rt-14-dev)
BECKON_DEPS+=(valgrind slowhttptest sipvicious)
# Stock softphones as real endpoints (tests/integration/test_softphones.py, issue 9).
BECKON_DEPS+=(baresip linphone-cli twinkle-console)
# Headless browser for the status page test (tests/integration/test_status_page.py, issue 8).
BECKON_DEPS+=(chromium)
# The fault tests' network: NAT routers in namespaces and HTTP load balancing in front of the
# gateways (tests/faults/, issue 5).
BECKON_DEPS+=(nftables haproxy)

beckon_install_deps() {
	local missing=() p
	for p in "${BECKON_DEPS[@]}"; do
		dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
	done
	if ((${#missing[@]} == 0)); then
		return 0
	fi
	if [[ $(id -u) -ne 0 ]]; then
		echo "missing packages: ${missing[*]} (run as root, or install them)" >&2
		return 1
	fi
	echo "installing: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update
	apt-get install -y --no-install-recommends "${missing[@]}"
	# The package starts a system redis on 6379; beckon's scripts run their own on free ports.
	if [[ " ${missing[*]} " == *" redis-server "* ]] && command -v systemctl >/dev/null 2>&1; then
		systemctl disable --now redis-server >/dev/null 2>&1 || true
	fi
}

# meson setup that is safe to repeat: configures a new dir, reconfigures an existing one.
beckon_setup() {
	local dir=$1
	shift
	if [[ -f "$dir/build.ninja" ]]; then
		meson setup --reconfigure "$dir" "$@"
	else
		rm -rf "$dir"
		meson setup "$dir" "$@"
	fi
}
