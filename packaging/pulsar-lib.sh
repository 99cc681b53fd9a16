# Shell helpers shared by packaging/pulsar.sh (the standalone) and packaging/cluster.sh (the cluster).
# Sourced, not run. The caller sets `log` and `die` first.

port_open() { # port_open PORT -> success if something listens on 127.0.0.1:PORT
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

set_prop() { # set_prop FILE KEY VALUE: replace KEY's line in a .properties file, or append it
  local file="$1" key="$2" value="$3"
  if grep -q "^$key=" "$file"; then
    sed -i -E "s|^$key=.*|$key=$value|" "$file"
  else
    printf '%s=%s\n' "$key" "$value" >>"$file"
  fi
}

set_yaml() { # set_yaml FILE KEY VALUE: replace a top-level `KEY:` line of a YAML file, or append it
  local file="$1" key="$2" value="$3"
  if grep -q "^$key:" "$file"; then
    sed -i -E "s|^$key:.*|$key: $value|" "$file"
  else
    printf '%s: %s\n' "$key" "$value" >>"$file"
  fi
}

close_inherited_fds() { # in a subshell about to start a daemon: a caller's `flock` lock would never be released
  local fd
  for fd in /proc/$BASHPID/fd/*; do
    fd="${fd##*/}"
    if ((fd > 2)); then eval "exec $fd>&-"; fi
  done
}

wait_exit() { # wait_exit PID SECONDS: until PID is gone; fails if it is still alive after SECONDS
  local i
  for ((i = 0; i < $2 * 2; i++)); do
    kill -0 "$1" 2>/dev/null || return 0
    sleep 0.5
  done
  ! kill -0 "$1" 2>/dev/null
}

wait_port_closed() { # wait_port_closed PORT SECONDS: until nothing listens on PORT; fails after SECONDS
  local i
  for ((i = 0; i < $2; i++)); do
    port_open "$1" || return 0
    sleep 1
  done
  ! port_open "$1"
}
