#!/bin/sh
# Start a swarm of sheri agents tiled in tmux: a thin wrapper over `sheri swarm tmux`, which takes
# every argument given here (see `sheri swarm tmux --help`).
#
#   scripts/start-swarm.sh                        nine agents, the origin's roles
#   scripts/start-swarm.sh --agents 16 --no-attach
#   MQTT_BROKER=mqtt://build-box:1883 OPENCTO_SWARM=prod scripts/start-swarm.sh
#
# Uses the sheri this script ships with (a checkout or a global install keeps scripts/ beside
# dist/), and the sheri on PATH otherwise.
set -eu

here=$(dirname "$0")
# A symlink to this script (in ~/bin, say) leads back to the package it belongs to.
if [ -L "$0" ] && target=$(readlink -f "$0" 2>/dev/null); then
  here=$(dirname "$target")
fi
entry="$here/../dist/bin/sheri.js"

if [ -f "$entry" ]; then
  exec node "$entry" swarm tmux "$@"
elif command -v sheri >/dev/null 2>&1; then
  exec sheri swarm tmux "$@"
fi
echo "start-swarm.sh: cannot find sheri: build it here (npm ci) or install it (npm install -g sheri)" >&2
exit 127
