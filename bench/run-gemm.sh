#!/usr/bin/env bash
# Builds the benchmarks jar and runs the GEMM benchmarks, ending with a GFLOP/s table (Markdown).
# Extra arguments go to JMH, e.g.:  bench/run-gemm.sh -p threads=1 -p shape=1024x1024x1024:NN
set -euo pipefail
cd "$(dirname "$0")"
JAVA="${JAVA_HOME:+$JAVA_HOME/bin/}java"
../mvnw -q -f ../pom.xml -pl bench -am package -DskipTests
echo "machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) CPUs; $("$JAVA" -version 2>&1 | head -1); $(date -u +%Y-%m-%d)"
# The forks get --add-modules jdk.incubator.vector from @Fork(jvmArgsAppend); GemmReport itself
# never touches vectors.
exec "$JAVA" -cp target/benchmarks.jar dev.oialr4j.bench.GemmReport "$@"
