#!/usr/bin/env bash
# Starts a throwaway RabbitMQ node for the tests on 127.0.0.1:$RABBITMQ_PORT (default 15673), or
# stops it: `scripts/rabbitmq.sh start|stop`. Prints the AMQP URL on start. Installs Debian's
# rabbitmq-server when it is missing. `scripts/rabbitmq.sh ctl ARGS…` runs rabbitmqctl against the
# node (users, permissions, queue listings).
#
# The node listens on loopback only: AMQP on $RABBITMQ_PORT, Erlang distribution on
# $RABBITMQ_DIST_PORT (default AMQP port + 10000) and a port mapper (epmd) of its own on
# $ERL_EPMD_PORT (default 14369), so it never meets a system node or its epmd on 4369. No plugins
# (so no management listener). Everything it writes, the Erlang cookie included, lives in one
# directory that start makes anew and stop removes.
set -euo pipefail
dir="${FLEETWRIGHT_RABBITMQ_DIR:-/tmp/fleetwright-rabbitmq}"
port="${RABBITMQ_PORT:-15673}"
node="fleetwright-$port@localhost"
sbin=/usr/lib/rabbitmq/bin

# The package's /usr/sbin wrappers switch to the rabbitmq user, reset HOME and log to
# /var/log/rabbitmq; the scripts behind them take their settings from the environment.
rmq_env() {
  export HOME="$dir" \
    RABBITMQ_CONF_ENV_FILE="$dir/rabbitmq-env.conf" \
    RABBITMQ_CONFIG_FILE="$dir/rabbitmq.conf" \
    RABBITMQ_ADVANCED_CONFIG_FILE="$dir/advanced.config" \
    RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins" \
    RABBITMQ_NODENAME="$node" \
    RABBITMQ_USE_LONGNAME=false \
    RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 \
    RABBITMQ_NODE_PORT="$port" \
    RABBITMQ_DIST_PORT="${RABBITMQ_DIST_PORT:-$((port + 10000))}" \
    RABBITMQ_MNESIA_BASE="$dir/mnesia" \
    RABBITMQ_LOG_BASE="$dir/log" \
    RABBITMQ_PID_FILE="$dir/rabbitmq.pid" \
    ERL_EPMD_ADDRESS=127.0.0.1 \
    ERL_EPMD_PORT="${ERL_EPMD_PORT:-14369}" \
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}" \
    RABBITMQ_CTL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
}
ctl() { (rmq_env && "$sbin/rabbitmqctl" -q "$@"); }
running() { [ -f "$dir/rabbitmq.pid" ] && kill -0 "$(cat "$dir/rabbitmq.pid")" 2>/dev/null; }

stop_node() {
  if running; then
    ctl stop "$dir/rabbitmq.pid" >/dev/null 2>&1 || kill "$(cat "$dir/rabbitmq.pid")" 2>/dev/null || true
  fi
  # rabbitmqctl stop leaves the port mapper running; this one is ours alone (its own port).
  if [ -d "$dir" ]; then (rmq_env && epmd -kill >/dev/null 2>&1) || true; fi
}

case "${1:-start}" in
  start)
    if [ ! -x "$sbin/rabbitmq-server" ]; then
      echo "rabbitmq: apt-get install rabbitmq-server" >&2
      export DEBIAN_FRONTEND=noninteractive
      # Quiet unless it fails (debconf chatters on stderr without apt-utils).
      if ! out=$(apt-get update -qq 2>&1 && apt-get install -y -qq --no-install-recommends rabbitmq-server 2>&1); then
        echo "$out" >&2
        exit 1
      fi
    fi
    # A fresh node every run: tests must not depend on leftovers.
    stop_node
    rm -rf "$dir" && mkdir -p "$dir/log" "$dir/mnesia"
    : >"$dir/rabbitmq-env.conf"
    echo '[].' >"$dir/enabled_plugins"
    # Loopback clients may use guest/guest; nothing listens anywhere else.
    printf '%s\n' 'log.console = false' 'log.file.level = info' >"$dir/rabbitmq.conf"
    (rmq_env && cd "$dir" && exec setsid "$sbin/rabbitmq-server" >"$dir/log/startup.log" 2>&1 </dev/null) &
    pid=$!
    # Bounded wait: the Erlang VM comes up first, then the broker boots (3-8 s to ready here).
    deadline=$((SECONDS + ${RABBITMQ_START_TIMEOUT:-90}))
    until ctl await_startup --timeout 5 >/dev/null 2>&1; do
      if [ "$SECONDS" -ge "$deadline" ] || ! kill -0 "$pid" 2>/dev/null; then
        echo "rabbitmq: the node did not start on 127.0.0.1:$port; last lines of its logs:" >&2
        tail -n 20 "$dir/log/$node.log" "$dir/log/startup.log" >&2 || true
        kill "$pid" 2>/dev/null || true
        stop_node
        exit 1
      fi
      sleep 1
    done
    echo "amqp://guest:guest@127.0.0.1:$port/%2f"
    ;;
  stop)
    stop_node
    rm -rf "$dir"
    ;;
  ctl)
    shift
    ctl "$@"
    ;;
  *)
    echo "usage: scripts/rabbitmq.sh start|stop|ctl ARGS..." >&2
    exit 2
    ;;
esac
