#!/usr/bin/env bash
# deps.sh -- install every Debian package pelmap needs to build, test and run.
# Idempotent; needs root (or sudo).  Each package and why: docs/dependencies.md.
set -euo pipefail
PKGS=(
  build-essential autoconf automake libtool pkg-config   # toolchain
  libsqlite3-dev sqlite3                                  # job queue storage
  libmicrohttpd-dev libcjson-dev                          # pelmapd HTTP + JSON
  libuv1-dev                                              # pelmap-worker event loop
  libcurl4-openssl-dev                                    # pelmap-worker HTTP client (remote mode)
  libssl-dev                                              # SHA-256 of tokens and uploads
  openssl                                                 # CLI: the TLS test (tests/service/api_http.sh) makes a self-signed certificate
  wrk                                                     # HTTP load benchmark (bench/)
  liblapacke-dev libopenblas-dev libarpack2-dev           # normal modes
  libsuitesparse-dev                                      # CHOLMOD: sparse Cholesky for shift-invert normal modes
  voro++-dev                                              # Voronoi tessellation
  curl python3 python3-numpy                              # tests and scripts
  lammps lammps-data                                      # reference oracle (tests, bench) + CuZr_mm.eam.fs
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all ${#PKGS[@]} packages present"
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
