# Sourced by mvnw, ./oialr4j and .ci/run: points JAVA_HOME at a JDK 25 or newer.
# Keeps a JAVA_HOME that is already new enough; otherwise looks in the usual install places.
oialr4j_java_major() {
  "$1/bin/java" -XshowSettings:properties -version 2>&1 \
    | sed -n 's/^ *java\.specification\.version = \([0-9][0-9]*\).*/\1/p' | head -n 1
}
oialr4j_find_jdk() {
  if [ -n "${JAVA_HOME-}" ] && [ -x "$JAVA_HOME/bin/javac" ]; then
    v=$(oialr4j_java_major "$JAVA_HOME")
    if [ -n "$v" ] && [ "$v" -ge 25 ]; then return 0; fi
  fi
  for d in /usr/lib/jvm/temurin-25-jdk-amd64 /usr/lib/jvm/temurin-25-jdk* /usr/lib/jvm/*25* /usr/lib/jvm/* /opt/java/*; do
    [ -x "$d/bin/javac" ] || continue
    v=$(oialr4j_java_major "$d")
    if [ -n "$v" ] && [ "$v" -ge 25 ]; then
      JAVA_HOME="$d"; export JAVA_HOME; return 0
    fi
  done
  echo "oialr4j needs JDK 25 or newer: none found (set JAVA_HOME to a JDK 25, e.g. /usr/lib/jvm/temurin-25-jdk-amd64)." >&2
  return 1
}
