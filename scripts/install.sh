#!/usr/bin/env bash
# Installs what vtrail needs on Debian (12+): the system packages its real sources
# and tests use, and a virtualenv at .venv with vtrail and its dev tools.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  python3-venv python3-dev gcc pkg-config   # building libvirt-python
  libvirt-dev libvirt0 libvirt-clients      # the libvirt collector and its test driver
  iproute2 iputils-ping                     # network namespaces, bridges, veth
  openvswitch-switch                        # the OVS collector (ovsdb-server)
  graphviz                                  # `vtrail topology -o dot` renders
  chromium chromium-driver                  # browser tests of the page
  dnsmasq-base dnsmasq-utils busybox        # the lease source's tests: DHCP server and client
  prometheus                                # bench/peers.py's peer (prometheus, promtool)
  postgresql                                # the PostgreSQL store's tests start a server (docs/scale.md)
  qemu-utils                                # qemu-img: disk images' headers and backing chains
)
sudo=""
if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

python=${PYTHON:-python3}
[[ -x .venv/bin/python ]] || "$python" -m venv .venv
.venv/bin/pip install -q --upgrade pip
# Every live source's client library (the extras) and the tools the tests use.
.venv/bin/pip install -q -e '.[all,dev]'
echo "vtrail installed: $(.venv/bin/vtrail --version)"
