# Shared helpers of the scripts in scripts/bench.d (sourced, not run).

# A free TCP port on loopback.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Wait (bounded, 60 s) until `$1$2` answers 2xx; $2 defaults to /readyz.
wait_ready() {
  for _ in $(seq 1 300); do
    curl -sf "$1${2:-/readyz}" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "not ready: $1${2:-/readyz}" >&2
  return 1
}

# A copy of streams.yaml whose streams, subjects, lease bucket and keyspace carry the tag $1, so a
# benchmark's data never mixes with the tests' or an earlier run's. Writes it to $2.
tagged_streams() {
  local tag="$1" out="$2"
  sed -e "s/stream: BOOKING_COMMANDS/stream: CMD_$tag/" -e "s/subject_prefix: cmd/subject_prefix: cmd_$tag/" \
      -e "s/stream: SEAT_EVENTS/stream: SEATS_$tag/" -e "s/subject_prefix: seats/subject_prefix: seats_$tag/" \
      -e "s/stream: BOOKING_EVENTS/stream: BOOKINGS_$tag/" -e "s/subject_prefix: bookings/subject_prefix: bookings_$tag/" \
      -e "s/lease_bucket: boxoffice_leases/lease_bucket: leases_$tag/" -e "s/keyspace: boxoffice/keyspace: $tag/" \
      streams.yaml >"$out"
}

# The pid `scripts/services status` reports for service $1 (nats-server, cassandra).
service_pid() {
  scripts/services status 2>/dev/null | awk -v s="$1" '$1 == s {for (i = 1; i < NF; i++) if ($i == "pid") print $(i + 1)}'
}
