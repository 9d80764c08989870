#!/usr/bin/env bash
# Starts a throwaway single-node Kafka broker (KRaft mode: broker and controller in one JVM) on
# 127.0.0.1:$KAFKA_PORT (default 19092) for the tests, or stops it: `scripts/kafka.sh start|stop`.
# Prints the bootstrap address on start. The broker's jars come from Maven Central
# (org.apache.kafka:kafka_2.13 with its runtime dependencies) into a cache under $HOME that later
# runs reuse without Maven; it runs on the machine's Java 17. See docs/brokers/kafka.md.
# KAFKA_USERS="orders:secret,billing:secret" adds a SASL_PLAINTEXT listener on $KAFKA_SASL_PORT
# (default KAFKA_PORT+2) with one SCRAM-SHA-512 login each. `scripts/kafka.sh tool CLASS ARGS...`
# runs one of Kafka's command-line tools (topics, consumer groups, ACLs) on the same jars.
set -euo pipefail

version="${KAFKA_VERSION:-4.4.0}"
# slf4j 2 and its log4j binding: the kafka_2.13 POM brings slf4j-api 1.7 and log4j-core but no
# binding, and without one the broker logs nothing at all.
slf4j_version=2.0.17
log4j_version=2.25.5
dependency_plugin=org.apache.maven.plugins:maven-dependency-plugin:3.8.1
cache="${FLEETWRIGHT_CACHE:-$HOME/.cache/fleetwright}/kafka-$version"
dir="${FLEETWRIGHT_KAFKA_DIR:-/tmp/fleetwright-kafka}"
port="${KAFKA_PORT:-19092}"
controller_port="${KAFKA_CONTROLLER_PORT:-$((port + 1))}"
sasl_port="${KAFKA_SASL_PORT:-$((port + 2))}"
heap="${KAFKA_HEAP:-512m}"
wait_secs="${KAFKA_START_TIMEOUT:-90}"

install() {
  [ -f "$cache/.complete" ] && return 0
  command -v mvn >/dev/null || { echo "kafka: mvn is not on PATH (needed once, to fetch the broker's jars)" >&2; return 1; }
  local work
  work=$(mktemp -d)
  cat > "$work/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.fleetwright</groupId>
  <artifactId>kafka-broker</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$version</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-api</artifactId><version>$slf4j_version</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j2-impl</artifactId><version>$log4j_version</version></dependency>
    <!-- The command-line tools (topics, consumer groups, ACLs, log dumps) without their Connect
         and Jetty dependencies: what they use is already on the broker's classpath. -->
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>$version</version>
      <exclusions><exclusion><groupId>*</groupId><artifactId>*</artifactId></exclusion></exclusions></dependency>
  </dependencies>
</project>
EOF
  rm -rf "$cache.partial" && mkdir -p "$cache.partial"
  # A throwaway local repository: only the copied jars are kept.
  if ! mvn -B -q -f "$work/pom.xml" -Dmaven.repo.local="$work/m2" "$dependency_plugin:copy-dependencies" \
      -DincludeScope=runtime -DoutputDirectory="$cache.partial/lib" >"$work/mvn.log" 2>&1; then
    tail -n 30 "$work/mvn.log" >&2
    echo "kafka: could not fetch org.apache.kafka:kafka_2.13:$version from Maven Central" >&2
    rm -rf "$work" "$cache.partial"
    return 1
  fi
  rm -rf "$work" "$cache"
  touch "$cache.partial/.complete"
  mv "$cache.partial" "$cache"
}

kill_broker() {
  if [ -f "$dir/kafka.pid" ]; then
    local pid
    pid=$(cat "$dir/kafka.pid")
    if kill "$pid" 2>/dev/null; then
      # A controlled shutdown takes a few seconds; past 30 s it is killed.
      for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
      kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$dir/kafka.pid"
  fi
}

stop() {
  kill_broker
  rm -rf "$dir"
}

# Stops what was started but keeps $dir, so that the whole log can be read.
fail() {
  echo "kafka: $1. First errors and last lines of $dir/server.log:" >&2
  grep -m 5 -E '^(\[[^]]*\] )?(ERROR|FATAL)|Exception' "$dir/server.log" >&2 || true
  echo "..." >&2
  tail -n 15 "$dir/server.log" >&2 || true
  kill_broker
  exit 1
}

# A small heap, the serial collector and the client compiler: the machine has 2 cores shared with
# builds, and a test broker starts faster this way than it would run at full speed.
jvm=(java -Xms128m "-Xmx$heap" -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true
  "-Dlog4j2.configurationFile=$dir/log4j2.properties" -cp "$cache/lib/*")

case "${1:-start}" in
  start)
    command -v java >/dev/null || { echo "kafka: java (17 or newer) is not on PATH" >&2; exit 1; }
    install
    # A fresh broker every run: tests must not depend on leftovers.
    stop
    mkdir -p "$dir/data"
    listeners="PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller_port"
    advertised="PLAINTEXT://127.0.0.1:$port"
    scram=()
    if [ -n "${KAFKA_USERS:-}" ]; then
      # One SCRAM-SHA-512 login per service on a second listener; the PLAINTEXT listener (tests,
      # tools, the broker itself) stays open and is a super user.
      listeners="$listeners,SASL_PLAINTEXT://127.0.0.1:$sasl_port"
      advertised="$advertised,SASL_PLAINTEXT://127.0.0.1:$sasl_port"
      for user in ${KAFKA_USERS//,/ }; do
        [[ "$user" == ?*:?* ]] || { echo "kafka: KAFKA_USERS wants name:password pairs, got '$user'" >&2; exit 2; }
        scram+=(--add-scram "SCRAM-SHA-512=[name=${user%%:*},password=${user#*:}]")
      done
    fi
    cat > "$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller_port
controller.listener.names=CONTROLLER
listeners=$listeners
advertised.listeners=$advertised
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT
sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
# ACLs apply to the SCRAM users once a test adds some; with none on a resource everyone may use it.
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=true
super.users=User:ANONYMOUS
log.dirs=$dir/data
# One node: every internal topic has one replica, or its creation waits for brokers that never come.
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=10
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
default.replication.factor=1
min.insync.replicas=1
# Topics are created by the services with their configured partitions, never by a first publish.
auto.create.topics.enable=false
# A consumer group's first join is not held back 3 s waiting for more members.
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=2
num.recovery.threads.per.data.dir=1
log.retention.hours=1
PROPS
    cat > "$dir/log4j2.properties" <<'PROPS'
status = warn
appender.out.type = Console
appender.out.name = out
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.out.ref = out
logger.started.name = kafka.server.KafkaRaftServer
logger.started.level = INFO
PROPS
    # Any 16 bytes in URL-safe base64 without padding make a cluster id.
    cluster_id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
    if ! "${jvm[@]}" kafka.tools.StorageTool format -t "$cluster_id" -c "$dir/server.properties" "${scram[@]}" \
        >"$dir/server.log" 2>&1; then
      fail "formatting the KRaft storage failed"
    fi
    nohup "${jvm[@]}" kafka.Kafka "$dir/server.properties" </dev/null >>"$dir/server.log" 2>&1 &
    echo $! > "$dir/kafka.pid"
    pid=$(cat "$dir/kafka.pid")
    deadline=$((SECONDS + wait_secs))
    until grep -q "Kafka Server started" "$dir/server.log" && (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
      kill -0 "$pid" 2>/dev/null || fail "the broker exited while starting"
      [ "$SECONDS" -lt "$deadline" ] || fail "the broker did not answer on 127.0.0.1:$port within ${wait_secs} s"
      sleep 0.2
    done
    echo "127.0.0.1:$port"
    ;;
  stop)
    stop
    ;;
  tool)
    # Runs one of Kafka's command-line tools by class name, e.g.
    # `scripts/kafka.sh tool org.apache.kafka.tools.consumer.group.ConsumerGroupCommand --bootstrap-server 127.0.0.1:19092 --describe --all-groups`.
    shift
    [ -f "$cache/.complete" ] || { echo "kafka: not installed; run scripts/kafka.sh start first" >&2; exit 1; }
    [ -f "$dir/log4j2.properties" ] || { mkdir -p "$dir" && printf 'rootLogger.level = WARN\n' > "$dir/log4j2.properties"; }
    "${jvm[@]}" "$@"
    ;;
  *)
    echo "usage: scripts/kafka.sh start|stop|tool CLASS [ARGS...]" >&2
    exit 2
    ;;
esac
